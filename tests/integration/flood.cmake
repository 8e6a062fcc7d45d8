# Flood integration tests (docs/operations.md, "Exposure to unauthenticated
# peers"): an owner gateway with 256 file descriptors under a handshake
# flood, refused keys held open, then idle TCP connections and churning
# unknown keys, while a member's lookups must be answered. Included from
# tests/integration/CMakeLists.txt (which defines lt_itest).
add_executable(test_flood test_flood.c lt_feedtest.c)
target_link_libraries(test_flood PRIVATE lt_itest lienthong_gateway lienthong_adapters
  PkgConfig::CUNIT PkgConfig::SQLITE PkgConfig::SODIUM)
add_dependencies(test_flood lienthong)

add_test(NAME integration_flood COMMAND test_flood $<TARGET_FILE:lienthong>)
set_tests_properties(integration_flood PROPERTIES
  LABELS "integration"
  TIMEOUT 180
  ENVIRONMENT "LIENTHONG_BIN=$<TARGET_FILE:lienthong>")
