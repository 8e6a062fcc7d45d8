# Feed integration tests (PROTOCOL.md 6 and 8.1): real gateways on 127.0.0.1
# replicating a dataset and its views, checked byte for byte against the
# owner's store; a CURVE man-in-the-middle proxy tampers with batches.
# Included from tests/integration/CMakeLists.txt (which defines lt_itest).
find_package(Threads REQUIRED)

add_executable(test_feeds test_feeds.c lt_feedtest.c)
target_link_libraries(test_feeds PRIVATE lt_itest lienthong_gateway lienthong_adapters PkgConfig::CUNIT Threads::Threads)
add_dependencies(test_feeds lienthong)

add_test(NAME integration_feeds COMMAND test_feeds $<TARGET_FILE:lienthong>)
set_tests_properties(integration_feeds PROPERTIES
  LABELS "integration"
  TIMEOUT 300
  ENVIRONMENT "LIENTHONG_BIN=$<TARGET_FILE:lienthong>")

# Key rotation with overlap (PROTOCOL.md 5.5): a member's keys and the
# authority's key rotate under continuous lookups, publishes and a feed.
add_executable(test_keyrot test_keyrot.c lt_feedtest.c)
target_link_libraries(test_keyrot PRIVATE lt_itest lienthong_gateway lienthong_adapters PkgConfig::CUNIT Threads::Threads)
add_dependencies(test_keyrot lienthong)

add_test(NAME integration_keyrot COMMAND test_keyrot $<TARGET_FILE:lienthong>)
set_tests_properties(integration_keyrot PROPERTIES
  LABELS "integration"
  TIMEOUT 180
  ENVIRONMENT "LIENTHONG_BIN=$<TARGET_FILE:lienthong>")
