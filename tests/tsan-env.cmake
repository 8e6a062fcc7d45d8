# tests/tsan-env.cmake: ctest includes this in a build configured with
# -DLT_TSAN=ON (CMakeLists.txt), so that every test, and every gateway an
# integration test starts, runs under these ThreadSanitizer options:
# - suppressions: tests/tsan.supp, the reports inside libzmq's own threads,
#   which the sanitizer cannot follow (libzmq is not instrumented);
# - allocator_may_return_null: a failed allocation returns NULL as malloc
#   does, rather than aborting; test_audit asks for one on purpose to check
#   that its failure is handled.
# Options already in TSAN_OPTIONS come after these and so win.
get_filename_component(lt_tsan_dir "${CMAKE_CURRENT_LIST_FILE}" DIRECTORY)
set(ENV{TSAN_OPTIONS}
    "suppressions='${lt_tsan_dir}/tsan.supp' allocator_may_return_null=1 $ENV{TSAN_OPTIONS}")
