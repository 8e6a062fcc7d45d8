# tests/unit/adapters.cmake: CUnit suites of the adapters (database seam,
# row mapping, change-tracking triggers, adapter configuration, demo data
# generator).
# Included from tests/unit/CMakeLists.txt; registered as unit_<name>, label "unit".
foreach(m rowmap db)
  add_executable(test_${m} ${CMAKE_CURRENT_LIST_DIR}/test_${m}.c ${CMAKE_SOURCE_DIR}/demo/lt_popgen.c)
  target_include_directories(test_${m} PRIVATE ${CMAKE_SOURCE_DIR}/demo)
  target_link_libraries(test_${m} PRIVATE lienthong_adapters PkgConfig::CUNIT)
  add_test(NAME unit_${m} COMMAND test_${m})
  set_tests_properties(unit_${m} PROPERTIES LABELS "unit" TIMEOUT 120)
endforeach()
