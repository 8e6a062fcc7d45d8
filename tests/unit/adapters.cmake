# tests/unit/adapters.cmake: CUnit suites of the adapters (row mapping,
# change-tracking triggers, adapter configuration, demo data generator).
# Included from tests/unit/CMakeLists.txt; registered as unit_<name>, label "unit".
foreach(m rowmap)
  add_executable(test_${m} ${CMAKE_CURRENT_LIST_DIR}/test_${m}.c)
  target_link_libraries(test_${m} PRIVATE lienthong_core PkgConfig::CUNIT)
  add_test(NAME unit_${m} COMMAND test_${m})
  set_tests_properties(unit_${m} PROPERTIES LABELS "unit" TIMEOUT 120)
endforeach()
