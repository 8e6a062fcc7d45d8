# Store integrity and file-mode integration tests (docs/ARCHITECTURE.md 4.2,
# PROTOCOL.md 6.10): a replica's store damaged three ways is detected,
# reported and repaired from the owner. Included from CMakeLists.txt.
add_executable(test_integrity test_integrity.c lt_feedtest.c)
target_link_libraries(test_integrity PRIVATE lt_itest lienthong_gateway lienthong_adapters PkgConfig::CUNIT)
add_dependencies(test_integrity lienthong)

add_test(NAME integration_store COMMAND test_integrity $<TARGET_FILE:lienthong>)
set_tests_properties(integration_store PROPERTIES
  LABELS "integration"
  TIMEOUT 180
  ENVIRONMENT "LIENTHONG_BIN=$<TARGET_FILE:lienthong>")
