# PostgreSQL adapters with real processes (test_pg.c): two owners (one in
# PostgreSQL, one in SQLite), a consumer writing into both engines, crashes,
# restarts and an outage of PostgreSQL, a re-installed change capture.
# Needs the throwaway cluster of the "pg" fixture (tests/CMakeLists.txt).
# Included from tests/integration/CMakeLists.txt (which defines lt_itest).
if(LT_PG_TESTS)
  add_executable(test_pg ${CMAKE_CURRENT_LIST_DIR}/test_pg.c)
  target_include_directories(test_pg PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  target_link_libraries(test_pg PRIVATE lt_itest lienthong_gateway lienthong_adapters
    PkgConfig::CUNIT PkgConfig::PQ PkgConfig::SQLITE)
  add_dependencies(test_pg lienthong)
  add_test(NAME integration_pg COMMAND test_pg $<TARGET_FILE:lienthong>)
  set_tests_properties(integration_pg PROPERTIES
    LABELS "integration;pg"
    TIMEOUT 400
    FIXTURES_REQUIRED pg
    RESOURCE_LOCK pg
    ENVIRONMENT "LIENTHONG_BIN=$<TARGET_FILE:lienthong>;${LT_PG_ENV}")
endif()
