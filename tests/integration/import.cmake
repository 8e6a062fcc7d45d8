# `lienthong import csv` against a real owner gateway (test_import.c): the
# report of bad rows, the good rows landing, --dry-run, a second import.
# Included from tests/integration/CMakeLists.txt (which defines lt_itest).
add_executable(test_import ${CMAKE_CURRENT_LIST_DIR}/test_import.c)
target_link_libraries(test_import PRIVATE lt_itest lienthong_gateway lienthong_adapters
  PkgConfig::CUNIT PkgConfig::SQLITE)
add_dependencies(test_import lienthong)
add_test(NAME integration_import COMMAND test_import $<TARGET_FILE:lienthong>)
set_tests_properties(integration_import PROPERTIES
  LABELS "integration"
  TIMEOUT 180
  ENVIRONMENT "LIENTHONG_BIN=$<TARGET_FILE:lienthong>")
