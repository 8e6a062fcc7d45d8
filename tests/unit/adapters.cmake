# tests/unit/adapters.cmake: CUnit suites of the adapters (database seam,
# row mapping, change-tracking triggers, adapter configuration, demo data
# generator).
# Included from tests/unit/CMakeLists.txt; registered as unit_<name>, label "unit".
foreach(m rowmap db csv)
  add_executable(test_${m} ${CMAKE_CURRENT_LIST_DIR}/test_${m}.c ${CMAKE_SOURCE_DIR}/demo/lt_popgen.c)
  target_include_directories(test_${m} PRIVATE ${CMAKE_SOURCE_DIR}/demo)
  target_link_libraries(test_${m} PRIVATE lienthong_adapters PkgConfig::CUNIT)
  add_test(NAME unit_${m} COMMAND test_${m})
  set_tests_properties(unit_${m} PROPERTIES LABELS "unit" TIMEOUT 120)
endforeach()
# test_csv loads the packaged example import file.
target_compile_definitions(test_csv PRIVATE LT_SRC_DIR="${CMAKE_SOURCE_DIR}")

# The PostgreSQL backend, against the throwaway cluster of the "pg" fixture
# (tests/CMakeLists.txt).
if(LT_PG_TESTS)
  add_executable(test_db_pg ${CMAKE_CURRENT_LIST_DIR}/test_db_pg.c)
  target_include_directories(test_db_pg PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  target_link_libraries(test_db_pg PRIVATE lienthong_adapters PkgConfig::CUNIT PkgConfig::PQ)
  add_test(NAME unit_db_pg COMMAND test_db_pg)
  set_tests_properties(unit_db_pg PROPERTIES LABELS "unit;pg" TIMEOUT 300
    FIXTURES_REQUIRED pg RESOURCE_LOCK pg ENVIRONMENT "${LT_PG_ENV}")
endif()
