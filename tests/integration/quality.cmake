# Quality figures (PROTOCOL.md 8.9, issue 13 item 5): completeness of the
# current records and liveness of streams and subscribers, in status and
# metrics, checked against counts from the stores. Included from
# tests/integration/CMakeLists.txt.
add_executable(test_quality test_quality.c lt_feedtest.c)
target_link_libraries(test_quality PRIVATE lt_itest lienthong_gateway lienthong_adapters PkgConfig::CUNIT PkgConfig::SQLITE Threads::Threads)
add_dependencies(test_quality lienthong)

add_test(NAME integration_quality COMMAND test_quality $<TARGET_FILE:lienthong>)
set_tests_properties(integration_quality PROPERTIES
  LABELS "integration"
  TIMEOUT 180
  ENVIRONMENT "LIENTHONG_BIN=$<TARGET_FILE:lienthong>")
