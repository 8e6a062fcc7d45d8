# Three owners and the public-service portal (test_owners.c, issue 13 item
# 1): the population, insurance-card and vaccination registers published by
# their own source adapters; the portal's sink tables must equal the owners'
# views after changes, deletions and rows leaving a view by its predicate.
# Included from tests/integration/CMakeLists.txt (which defines lt_itest).
add_executable(test_owners ${CMAKE_CURRENT_LIST_DIR}/test_owners.c
  ${CMAKE_CURRENT_LIST_DIR}/lt_feedtest.c)
target_link_libraries(test_owners PRIVATE lt_itest lienthong_gateway lienthong_adapters
  PkgConfig::CUNIT PkgConfig::SQLITE Threads::Threads)
add_dependencies(test_owners lienthong lienthong-popgen)
add_test(NAME integration_owners COMMAND test_owners $<TARGET_FILE:lienthong>)
set_tests_properties(integration_owners PROPERTIES
  LABELS "integration"
  TIMEOUT 300
  ENVIRONMENT "LIENTHONG_BIN=$<TARGET_FILE:lienthong>")
