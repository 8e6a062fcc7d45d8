# Operations integration tests (issue 14 items 3, 5, 6): a directory expiring
# during traffic, reload of a subscription, status after a peer dies. Real
# gateways on 127.0.0.1; included from tests/integration/CMakeLists.txt.
add_executable(test_ops test_ops.c lt_feedtest.c)
target_link_libraries(test_ops PRIVATE lt_itest lienthong_gateway lienthong_adapters PkgConfig::CUNIT Threads::Threads)
add_dependencies(test_ops lienthong)
# The metrics reference every exported family must be in.
target_compile_definitions(test_ops PRIVATE LT_IT_DOCS="${CMAKE_SOURCE_DIR}/docs/operations.md")

add_test(NAME integration_ops COMMAND test_ops $<TARGET_FILE:lienthong>)
set_tests_properties(integration_ops PROPERTIES
  LABELS "integration"
  TIMEOUT 180
  ENVIRONMENT "LIENTHONG_BIN=$<TARGET_FILE:lienthong>")
