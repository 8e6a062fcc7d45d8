#!/usr/bin/env bash
# test_cli_usage.sh LIENTHONG: usage errors of the command line name the
# option or word at fault, quote the value given, and exit 2 (the exit
# status the manual pages give for a usage error). None of these reaches a
# gateway or a file: they stop at option parsing.
set -uo pipefail
LT="$1"
fail=0 n=0

# expect WANT_STATUS WANT_TEXT ARGS...: stderr holds WANT_TEXT (fixed string).
expect() {
    local want_rc="$1" want="$2" err rc
    shift 2
    n=$((n + 1))
    err=$("$LT" "$@" 2>&1 >/dev/null)
    rc=$?
    if [ "$rc" -ne "$want_rc" ] || ! grep -qF -- "$want" <<<"$err"; then
        echo "FAIL: lienthong $*: want exit $want_rc and \"$want\", got exit $rc:"
        sed 's/^/    /' <<<"$err"
        fail=1
    fi
}

# expect_help ARGS...: --help prints the usage on stdout and exits 0.
expect_help() {
    local out rc
    n=$((n + 1))
    out=$("$LT" "$@" 2>/dev/null)
    rc=$?
    if [ "$rc" -ne 0 ] || ! grep -qF "usage:" <<<"$out"; then
        echo "FAIL: lienthong $*: want exit 0 and the usage on stdout, got exit $rc"
        fail=1
    fi
}

Q=(--config x --dataset d --key k --purpose P)
# A value out of range or not plain digits names the option and quotes it.
for v in abc 0 -5 1e3 99999999999999 ' 7' +7; do
    expect 2 "lienthong lookup: --timeout: expected whole milliseconds 1..2147483647, got '$v'" \
        lookup "${Q[@]}" --timeout "$v"
done
# A timeout is the request's deadline: at most 10 minutes ahead (PROTOCOL.md 7.1).
expect 2 "lienthong lookup: --timeout: expected whole milliseconds 1..600000, got '600001': a request's time may be at most 10 minutes (PROTOCOL.md 7.1)" \
    lookup "${Q[@]}" --timeout 600001
expect 2 "verify: --timeout: expected whole milliseconds 1..600000, got '2147483647'" \
    verify --timeout 2147483647
expect 2 "ping: --timeout: expected whole milliseconds" ping --timeout x
expect 2 "prefill: --timeout: expected whole milliseconds 1..2147483647, got '-1'" prefill --timeout -1
expect 2 "profile: --deadline: expected whole milliseconds 1..60000, got '60001'" profile --deadline 60001
expect 2 "audit: --last: expected a whole number 1..2147483647, got '0'" audit --last 0
expect 2 "audit: --older-than: expected whole days 0..36500, got '-1'" audit --older-than -1
expect 2 "directory sign: --version: expected a whole number 1..9223372036854775807, got '+7'" \
    directory sign --version +7
# --issued-at and --expires-at are int64 unix seconds: larger values were
# taken and cast negative; 0 silently meant "now" and "valid_days".
for o in issued-at expires-at; do
    for v in 9223372036854775808 18446744073709551615 -1 +7; do
        expect 2 "directory sign: --$o: expected unix seconds 1..9223372036854775807, got '$v'" \
            directory sign --authority a --in i --out o --$o "$v"
    done
    expect 2 "directory sign: --$o: got '0', which is not a time: leave the option out" \
        directory sign --authority a --in i --out o --$o 0
done
# A sink's cursor is an int64: a larger --once-through would never end.
for v in 9223372036854775808 18446744073709551615; do
    expect 2 "sink: --once-through: expected a sequence number 0..9223372036854775807, got '$v'" \
        sink --config c --once-through "$v"
done
# A malformed endpoint is a usage error, not an unreachable gateway.
Z=0000000000000000000000000000000000000000
for v in tcp://127.0.0.1:99999 tcp://127.0.0.1: tcp://127.0.0.1:0 tcp://127.0.0.1:10abc \
    tcp://:5 udp://1.2.3.4:5 tcp://127.0.0.1:-1 127.0.0.1:5; do
    expect 2 "ping: --endpoint: '$v' is not tcp://HOST:PORT" \
        ping --key /nonexistent/k --server-key "$Z" --endpoint "$v"
done
expect 2 "ping: --endpoint: 'tcp://*:5' names no host" \
    ping --key /nonexistent/k --server-key "$Z" --endpoint 'tcp://*:5'
for v in 0 9223372036854775808 18446744073709551615; do
    expect 2 "directory sign: --version: expected a whole number 1..9223372036854775807, got '$v'" \
        directory sign --version "$v"
done
expect 2 "keygen: --member: expected a member id INSTANCE/CLASS/CODE (upper-case letters, digits, '_' or '-'), e.g. VN/GOV/BCA, got 'bad'" \
    keygen --out /nonexistent/k --member bad
expect_help directory --help
expect_help directory sign --help
expect_help directory show --help
expect_help directory verify --help
expect 2 "verify: --claim: expected FIELD=VALUE, got 'sex'" verify --claim sex

# An option given without its value is named as such, not taken for a stray argument.
expect 2 "lienthong gateway: --config needs a value" gateway --config
expect 2 "lookup: --timeout needs a value" lookup "${Q[@]}" --timeout
expect 2 "store: --data-dir needs a value" store verify --data-dir
expect 2 "directory sign: --in needs a value" directory sign --in

# No option takes an empty value (an unset shell variable): named, in
# every form, before anything is read, written or sent.
expect 2 "keygen: --out needs a value, got ''" keygen --out ''
expect 2 "keygen: --out needs a value, got ''" keygen -o ''
expect 2 "keygen: --out needs a value, got ''" keygen --out=
expect 2 "store: --data-dir needs a value, got ''" store verify --config x --data-dir ''
expect 2 "restore: --from needs a value, got ''" restore --config x --from ''
expect 2 "backup: --to needs a value, got ''" backup --config x --to ''
expect 2 "resync: expected a STREAM, got ''" resync --config x ''
# Nor does a file argument: "" would be read as the current directory.
expect 2 "pubkey: the key file (argument 1) is empty, got ''" pubkey ''
expect 2 "directory show: the signed directory file (argument 1) is empty, got ''" directory show ''
expect 2 "directory verify: the signed directory file (argument 1) is empty, got ''" \
    directory verify --authority-key 0000000000000000000000000000000000000000 ''
expect 2 "import: the CSV file (argument 2) is empty, got ''" import csv --config x a.csv ''
for o in config dataset key purpose case field; do
    expect 2 "lookup: --$o needs a value, got ''" lookup "${Q[@]}" --$o ''
done
expect 2 "verify: --claim needs a value, got ''" verify "${Q[@]}" --claim ''
expect 2 "prefill: --purpose needs a value, got ''" prefill --config x --key k --purpose ''
expect 2 "profile: --dataset needs a value, got ''" profile --config x --key k --dataset ''
expect 2 "audit: --subject needs a value, got ''" audit --config x --subject ''
expect 2 "directory sign: --out needs a value, got ''" directory sign --authority a --in i --out ''
expect 2 "directory show: --authority-key needs a value, got ''" directory show --authority-key '' f
expect 2 "ping: --endpoint needs a value, got ''" ping --key k --server-key "$Z" --endpoint ''
expect 2 "source: --forget needs a value, got ''" source --config x --forget ''
expect 2 "source: --dry-run and --force go with --reconcile" source --config x --dry-run
expect 2 "source: --dry-run and --force exclude each other" source --config x --reconcile --dry-run --force
expect 2 "source: --dry-run and --force go with --reconcile" source --config x --check --force
expect 2 "import csv: --report needs a value, got ''" import csv --config x --report '' f.csv
expect 2 "api token: --app needs a value, got ''" api token --app ''
expect 2 "keys: --config needs a value, got ''" keys promote --config ''
expect 2 "gateway: --config needs a value, got ''" gateway --config ''

# The missing required options are named.
expect 2 "lookup: missing --purpose" lookup --config x --dataset d --key k
expect 2 "lookup: missing --config, --dataset, --key" lookup --purpose P
expect 2 "verify: missing --claim" verify --config x --dataset d --purpose P --key k
expect 2 "verify: --subjects-file does not go with" verify --config x --dataset d --purpose P \
    --subjects-file f --key k --claim a=b
expect 2 "prefill: missing --key" prefill --config x
expect 2 "profile: missing --purpose, --dataset" profile --config x --key k
expect 2 "ping: missing --server-key, --endpoint" ping --key k
expect 2 "directory sign: missing --in, --out" directory sign --authority a

# Unknown options, and options this form does not take, are named.
expect 2 "authority-keygen: --member does not go with" authority-keygen --out a --member x
expect 2 "lookup: --keys-file does not go with" lookup "${Q[@]}" --keys-file f
expect 2 "status: unknown option '--bogus'" status --bogus
expect 2 "status: unknown option '-z'" status -z
expect 2 "status: --metrics takes no value, got '--metrics=1'" status --config c --metrics=1
expect 2 "pubkey: unknown option '--bogus'" pubkey --bogus

# Unknown sub-command words are quoted.
expect 2 "keys: unknown action 'rotate': expected 'promote'" keys rotate
expect 2 "import: unknown format 'json': expected 'csv'" import json
expect 2 "store: unknown action 'check': expected 'verify'" store check
expect 2 "directory: unknown action 'list'" directory list

echo "checked $n usage errors"
exit $fail
