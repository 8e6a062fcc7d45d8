# Audit integration tests (docs/ARCHITECTURE.md "Audit log"): answers leave
# the owner only with a durable audit entry (kill -9 right after answers), a
# full audit disk refuses and recovers (a tmpfs the test mounts: run as root),
# old segments are exported, removed and verified, and an audit log of a
# newer version stops the start. Included from
# tests/integration/CMakeLists.txt (which defines lt_itest).
add_executable(test_auditlog ${CMAKE_CURRENT_LIST_DIR}/test_auditlog.c ${CMAKE_CURRENT_LIST_DIR}/lt_feedtest.c)
target_link_libraries(test_auditlog PRIVATE lt_itest lienthong_gateway lienthong_adapters PkgConfig::CUNIT PkgConfig::SQLITE Threads::Threads)
add_dependencies(test_auditlog lienthong)

add_test(NAME integration_audit COMMAND test_auditlog $<TARGET_FILE:lienthong>)
set_tests_properties(integration_audit PROPERTIES
  LABELS "integration"
  TIMEOUT 180
  ENVIRONMENT "LIENTHONG_BIN=$<TARGET_FILE:lienthong>")
