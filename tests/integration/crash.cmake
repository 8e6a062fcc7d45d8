# Crash integration test (DESIGN.md 5, the crash rule): an owner gateway, its
# source adapter, a consumer gateway and its sink adapter are SIGKILLed at
# random moments and restarted while the owner's agency database keeps
# changing; afterwards the consumer's table must equal the owner's view, no
# acknowledged change may be missing from the owner's log, and every log must
# be gapless and byte-identical to the owner's. Included from
# tests/integration/CMakeLists.txt (which defines lt_itest).
add_executable(test_crash ${CMAKE_CURRENT_LIST_DIR}/test_crash.c)
target_link_libraries(test_crash PRIVATE lt_itest lienthong_gateway lienthong_adapters PkgConfig::CUNIT)
add_dependencies(test_crash lienthong lienthong-popgen)

add_test(NAME integration_crash COMMAND test_crash $<TARGET_FILE:lienthong>)
set_tests_properties(integration_crash PROPERTIES
  LABELS "integration"
  TIMEOUT 400
  ENVIRONMENT "LIENTHONG_BIN=$<TARGET_FILE:lienthong>")
