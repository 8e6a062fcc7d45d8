# tests/unit/norm.cmake: CUnit suite of the claim normaliser (gateway/lt_norm,
# PROTOCOL.md 7.6) with Vietnamese known-answer vectors, plus the exact-body
# extraction of lt_wire_body_bytes (7.1). Included from
# tests/unit/CMakeLists.txt; registered as unit_norm, label "unit".
add_executable(test_norm ${CMAKE_CURRENT_LIST_DIR}/test_norm.c)
target_link_libraries(test_norm PRIVATE lienthong_gateway lienthong_adapters PkgConfig::CUNIT)
add_test(NAME unit_norm COMMAND test_norm)
set_tests_properties(unit_norm PROPERTIES LABELS "unit" TIMEOUT 120)
