# History integration tests (PROTOCOL.md 6.9): an owner gateway backed up
# while it runs, restored (and copied back by hand), and two consumers that
# detect the fork and resynchronise (by command, and automatically).
# Included from tests/integration/CMakeLists.txt (which defines lt_itest).
add_executable(test_restore test_restore.c lt_feedtest.c)
target_link_libraries(test_restore PRIVATE lt_itest lienthong_gateway lienthong_adapters PkgConfig::CUNIT Threads::Threads)
add_dependencies(test_restore lienthong)

add_test(NAME integration_restore COMMAND test_restore $<TARGET_FILE:lienthong>)
set_tests_properties(integration_restore PROPERTIES
  LABELS "integration"
  TIMEOUT 180
  ENVIRONMENT "LIENTHONG_BIN=$<TARGET_FILE:lienthong>")
