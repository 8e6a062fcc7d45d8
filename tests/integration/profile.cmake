# Profile lookup integration test (PROTOCOL.md 7.7): three owners and the
# portal as real gateways on 127.0.0.1, the CLI, and the HTTP API called
# with curl. Included from tests/integration/CMakeLists.txt.
add_executable(test_profile ${CMAKE_CURRENT_LIST_DIR}/test_profile.c)
target_link_libraries(test_profile PRIVATE lt_itest lienthong_gateway lienthong_adapters PkgConfig::CUNIT)
add_dependencies(test_profile lienthong)
add_test(NAME integration_profile COMMAND test_profile $<TARGET_FILE:lienthong>)
set_tests_properties(integration_profile PROPERTIES
  LABELS "integration"
  TIMEOUT 300
  ENVIRONMENT "LIENTHONG_BIN=$<TARGET_FILE:lienthong>")
