# scripts/lib.sh: shared by scripts/demo, scripts/test and scripts/bench.
# Installs missing Debian packages and builds the project.

LT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Debian packages the build and the tests need (postgresql: the server the
# tests of the PostgreSQL adapters start a throwaway cluster of, as `nobody`,
# with tests/pg-cluster; the Debian package's own cluster is not used).
LT_PACKAGES="build-essential cmake pkg-config libmicrohttpd-dev libgnutls28-dev python3 curl libzmq3-dev libprotobuf-c-dev protobuf-c-compiler \
libsodium-dev libcunit1-dev libsqlite3-dev libpq-dev libconfig-dev libjansson-dev sqlite3 \
libunistring-dev uthash-dev libsystemd-dev openssl libcurl4-openssl-dev libcsv-dev postgresql \
clang libclang-rt-14-dev \
scdoc debhelper dpkg-dev lintian systemd"

lt_say() { printf '\n== %s\n' "$*"; }

# Installs whatever of $LT_PACKAGES (plus any arguments) is missing.
lt_deps() {
    local missing=() p
    for p in $LT_PACKAGES "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    lt_say "installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# lt_build DIR [cmake args...]: configures and builds into DIR.
lt_build() {
    local dir="$1"
    shift
    mkdir -p "$(dirname "$dir")"
    # The tests' hooks on (CMakeLists.txt, LT_TEST_HOOKS): builds made here
    # run the suite; the package and hand-made builds have none.
    cmake -S "$LT_ROOT" -B "$dir" -DLT_WERROR=ON -DLT_TEST_HOOKS=ON "$@" >"$dir.configure.log" 2>&1 ||
        { cat "$dir.configure.log"; return 1; }
    if ! cmake --build "$dir" -j"$(nproc)" >"$dir.build.log" 2>&1; then
        grep -Ev '^\[ *[0-9]+%\]' "$dir.build.log" | tail -60
        echo "build failed: see $dir.build.log"
        return 1
    fi
}
