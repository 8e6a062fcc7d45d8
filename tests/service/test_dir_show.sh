#!/usr/bin/env bash
# test_dir_show.sh LIENTHONG: `lienthong directory show` without an
# authority key prints a directory nobody has checked, so it must survive
# any contents: a key of the wrong length is printed as such, never read
# past its end, and the structural check's verdict is printed as a warning
# with exit status 1 (man/lienthong-directory.1.scd, EXIT STATUS). The
# files are written byte by byte (proto/directory.proto field numbers).
set -uo pipefail
LT="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0

# A SignedDirectory (field 1: the Directory bytes) around one member
# VN/GOV/BCA with the given member fields and Directory tail, both hex.
signed() {
    local member="0a0a564e2f474f562f424341$2" tail="$3" inner outer
    inner="08011202564e18012001280232$(printf '%02x' $((${#member} / 2)))$member$tail"
    outer="0a$(printf '%02x' $((${#inner} / 2)))$inner"
    printf "$(sed 's/../\\x&/g' <<<"$outer")" >"$dir/$1"
}

# check FILE WANT_STATUS WANT_TEXT...: stdout and stderr hold every text.
check() {
    local f="$1" want_rc="$2" out rc t
    shift 2
    out=$("$LT" directory show "$dir/$f" 2>&1)
    rc=$?
    for t in "$@"; do
        grep -qF -- "$t" <<<"$out" || { echo "FAIL: show $f: no \"$t\""; fail=1; }
    done
    if [ "$rc" -ne "$want_rc" ]; then
        echo "FAIL: show $f: exit $rc, want $want_rc"
        fail=1
    fi
    [ "$fail" = 0 ] || sed 's/^/    /' <<<"$out"
}

# No transport key at all (was a NULL dereference).
signed nokey.signed "" ""
check nokey.signed 1 "transport (invalid: 0 bytes)" \
    "warning: the directory is not valid: members[0]:"
# A one-byte transport key and a one-byte next authority key (were read
# 32 bytes long, past the end of their buffers).
signed short.signed "220141" "520141"
check short.signed 1 "transport (invalid: 1 bytes)" "next authority key (invalid: 1 bytes)" \
    "warning: the directory is not valid:"
exit "$fail"
