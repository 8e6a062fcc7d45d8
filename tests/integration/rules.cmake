# Validation rules of a dataset (test_rulesgw.c): an owner with rules, a real
# source adapter on an SQLite table, a consumer; refusals, lt_rejects,
# a fixed row clearing its reject, counts in status and metrics.
# Included from tests/integration/CMakeLists.txt (which defines lt_itest).
add_executable(test_rulesgw test_rulesgw.c lt_feedtest.c)
target_link_libraries(test_rulesgw PRIVATE lt_itest lienthong_gateway lienthong_adapters
  PkgConfig::CUNIT PkgConfig::SQLITE)
add_dependencies(test_rulesgw lienthong lienthong-popgen)
add_test(NAME integration_rules COMMAND test_rulesgw $<TARGET_FILE:lienthong>)
set_tests_properties(integration_rules PROPERTIES
  LABELS "integration"
  TIMEOUT 180
  ENVIRONMENT "LIENTHONG_BIN=$<TARGET_FILE:lienthong>")
