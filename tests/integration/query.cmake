# Lookup and verify integration tests (PROTOCOL.md 7 and 8.3): real gateways
# on 127.0.0.1 (owner and caller), direct CURVE peers, a fake owner that
# forges and replays answers, and the CLI's --json output (parsed with
# jansson). Included from tests/integration/CMakeLists.txt (which defines
# lt_itest).
add_executable(test_query ${CMAKE_CURRENT_LIST_DIR}/test_query.c)
target_link_libraries(test_query PRIVATE lt_itest lienthong_gateway lienthong_adapters PkgConfig::CUNIT)
add_dependencies(test_query lienthong)

add_test(NAME integration_query COMMAND test_query $<TARGET_FILE:lienthong>)
set_tests_properties(integration_query PROPERTIES
  LABELS "integration"
  TIMEOUT 300
  ENVIRONMENT "LIENTHONG_BIN=$<TARGET_FILE:lienthong>")
