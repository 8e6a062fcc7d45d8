# scripts/lib.sh: shared by scripts/demo, scripts/test and scripts/bench.
# Installs missing Debian packages and builds the project.

LT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Debian packages the build needs (scripts/demo installs only these).
LT_BUILD_PACKAGES="build-essential cmake pkg-config libmicrohttpd-dev libgnutls28-dev libzmq3-dev \
libprotobuf-c-dev protobuf-c-compiler libsodium-dev libcunit1-dev libsqlite3-dev libpq-dev \
libconfig-dev libjansson-dev sqlite3 libunistring-dev uthash-dev libsystemd-dev \
libcurl4-openssl-dev libcsv-dev scdoc"

# And what the tests, the benchmarks and the package need besides
# (postgresql: the server the tests of the PostgreSQL adapters start a
# throwaway cluster of, as `nobody`, with tests/pg-cluster; the Debian
# package's own cluster is not used; iproute2: the network namespaces of the
# wide-area test; clang: the fuzz targets; clang-format: the layout check).
LT_PACKAGES="$LT_BUILD_PACKAGES python3 curl openssl postgresql clang libclang-rt-14-dev \
debhelper dpkg-dev lintian systemd iproute2 clang-format"

lt_say() { printf '\n== %s\n' "$*"; }

# lt_deps [--build] [package...]: installs whatever of $LT_PACKAGES (with
# --build, of $LT_BUILD_PACKAGES), plus the packages named, is missing.
lt_deps() {
    local missing=() p want="$LT_PACKAGES" sudo="" log
    if [ "${1:-}" = "--build" ]; then
        want="$LT_BUILD_PACKAGES"
        shift
    fi
    for p in $want "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    lt_say "installing Debian packages: ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null; then
            echo "cannot install them: not root and no sudo; run this as root, or install them first:" >&2
            echo "  apt-get install ${missing[*]}" >&2
            return 1
        fi
        sudo="sudo"
    fi
    # Through env: sudo's default env_reset would drop DEBIAN_FRONTEND, and
    # an install question would then wait unseen for an answer.
    log="$(mktemp)"
    if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1 ||
        ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >>"$log" 2>&1; then
        tail -40 "$log" >&2
        echo "installing Debian packages failed (above)" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
}

# lt_build DIR [cmake args...]: configures and builds into DIR.
lt_build() {
    local dir="$1"
    shift
    mkdir -p "$(dirname "$dir")"
    # The tests' hooks on (CMakeLists.txt, LT_TEST_HOOKS): builds made here
    # run the suite; the demo turns them off again (a later -D wins), as the
    # package and hand-made builds have none.
    cmake -S "$LT_ROOT" -B "$dir" -DLT_WERROR=ON -DLT_TEST_HOOKS=ON "$@" >"$dir.configure.log" 2>&1 ||
        { cat "$dir.configure.log"; return 1; }
    if ! cmake --build "$dir" -j"$(nproc)" >"$dir.build.log" 2>&1; then
        grep -Ev '^\[ *[0-9]+%\]' "$dir.build.log" | tail -60
        echo "build failed: see $dir.build.log"
        return 1
    fi
}
