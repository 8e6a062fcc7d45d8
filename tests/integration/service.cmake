# Service integration tests (docs/operations.md): --check with its fixes,
# the sd_notify protocol, and the logs of a healthy federation.
# Included from tests/integration/CMakeLists.txt (which defines lt_itest).
add_executable(test_service test_service.c lt_feedtest.c)
target_link_libraries(test_service PRIVATE lt_itest lienthong_gateway PkgConfig::JANSSON PkgConfig::SQLITE PkgConfig::CUNIT Threads::Threads)
add_dependencies(test_service lienthong)

add_test(NAME integration_service COMMAND test_service $<TARGET_FILE:lienthong>)
set_tests_properties(integration_service PROPERTIES
  LABELS "integration"
  TIMEOUT 180
  ENVIRONMENT "LIENTHONG_BIN=$<TARGET_FILE:lienthong>")
