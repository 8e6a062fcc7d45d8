# Pre-fill from the replicas (PROTOCOL.md 8.8, issue 13 item 2): three owners
# and the public-service portal replicating a view of each; the portal's
# pre-fill equals the owners' views, and answers the same with every owner
# stopped. Included from tests/integration/CMakeLists.txt (which defines
# lt_itest).
add_executable(test_portal ${CMAKE_CURRENT_LIST_DIR}/test_portal.c ${CMAKE_CURRENT_LIST_DIR}/lt_feedtest.c)
target_compile_definitions(test_portal PRIVATE LT_IT_SRC_DIR="${CMAKE_CURRENT_LIST_DIR}")
target_link_libraries(test_portal PRIVATE lt_itest lienthong_gateway lienthong_adapters PkgConfig::CUNIT)
add_dependencies(test_portal lienthong)

add_test(NAME integration_prefill COMMAND test_portal $<TARGET_FILE:lienthong>)
set_tests_properties(integration_prefill PROPERTIES
  LABELS "integration"
  TIMEOUT 300
  ENVIRONMENT "LIENTHONG_BIN=$<TARGET_FILE:lienthong>")
