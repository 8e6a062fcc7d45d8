# HTTP API integration test: real gateways and a real `lienthong api`,
# driven with curl and Python's standard library (api_client.py).
add_executable(test_api ${CMAKE_CURRENT_LIST_DIR}/test_api.c)
target_compile_definitions(test_api PRIVATE LT_IT_SRC_DIR="${CMAKE_CURRENT_LIST_DIR}"
  LT_IT_DOCS="${CMAKE_SOURCE_DIR}/docs/operations.md")
target_link_libraries(test_api PRIVATE lt_itest lienthong_gateway lienthong_adapters PkgConfig::CUNIT)
add_dependencies(test_api lienthong)
add_test(NAME integration_api COMMAND test_api $<TARGET_FILE:lienthong>)
set_tests_properties(integration_api PROPERTIES
  LABELS "integration"
  TIMEOUT 300
  ENVIRONMENT "LIENTHONG_BIN=$<TARGET_FILE:lienthong>")
