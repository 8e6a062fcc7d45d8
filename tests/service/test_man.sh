#!/usr/bin/env bash
# test_man.sh LIENTHONG MAN_SOURCE_DIR MAN_BUILD_DIR: the manual pages match
# the program. Every command `lienthong --help` lists has a page
# lienthong-CMD.1 that lienthong(1) names; the options in `lienthong CMD
# --help` are exactly the options the page's OPTIONS section documents; every
# page was rendered by scdoc. New commands are picked up from --help. Every
# command page has an EXIT STATUS section that gives 2 for a usage error,
# which an unknown option produces; where --help sums up the statuses, the
# page gives the same ones; and the statuses of prefill, profile, lookup and
# verify without a loadable configuration and without a running gateway are
# those their pages give for these cases (0 and 1 need a gateway: the
# integration suites test_portal and test_profile check them).
set -uo pipefail
LT="$1" SRC="$2" OUT="$3"
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# The options a page documents: lines "*--opt*" in its OPTIONS section.
page_options() {
    awk '/^# OPTIONS/ { on = 1; next } /^# / { on = 0 } on && /^\*--/' "$1" |
        grep -o '^\*--[a-z][a-z-]*' | tr -d '*' | sort -u
}
# The options `lienthong CMD --help` shows, plus --help itself (which every
# command takes and which must exit 0).
help_options() {
    { "$LT" "$1" --help | grep -o -- '--[a-z][a-z-]*'; echo --help; } | sort -u
}

# The EXIT STATUS section of a page as one line.
page_exit() {
    awk '/^# EXIT STATUS/ { on = 1; next } /^# / { on = 0 } on' "$1" | tr '\n' ' ' | tr -s ' '
}
# The statuses it gives: each digit followed by "on" or "when" ("0 on
# success", "1 when none does").
page_statuses() {
    page_exit "$1" | grep -oE '(^|[ ,;(])[0-9] (on|when) ' | grep -oE '[0-9]' | sort -u | tr '\n' ' '
}
# The statuses the "exit status:" summary of `lienthong CMD --help` gives,
# empty when it has none.
help_statuses() {
    "$LT" "$1" --help | sed -n '/^exit status:/,$p' | tr '\n' ' ' | tr -s ' ' | grep -oE '(: |, )[0-9] ' |
        grep -oE '[0-9]' | sort -u | tr '\n' ' '
}

cmds=$("$LT" --help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
[ -n "$cmds" ] || bad "lienthong --help lists no commands"
n=0
for c in $cmds; do
    n=$((n + 1))
    page="$SRC/lienthong-$c.1.scd"
    if [ ! -f "$page" ]; then
        bad "command '$c' has no manual page $page"
        continue
    fi
    [ -s "$OUT/lienthong-$c.1" ] || bad "lienthong-$c.1 was not rendered into $OUT"
    grep -q "^\*$c\*\$" "$SRC/lienthong.1.scd" || bad "lienthong(1) does not list command '$c'"
    grep -q "lienthong-$c\*(1)" "$SRC/lienthong.1.scd" || bad "lienthong(1) does not refer to lienthong-$c(1)"
    "$LT" "$c" --help >/dev/null || bad "'lienthong $c --help' does not exit 0"
    h=$(help_options "$c") p=$(page_options "$page")
    for o in $h; do grep -qx -- "$o" <<<"$p" || bad "'lienthong $c --help' shows $o, lienthong-$c(1) does not document it"; done
    for o in $p; do grep -qx -- "$o" <<<"$h" || bad "lienthong-$c(1) documents $o, 'lienthong $c --help' does not show it"; done
    st=$(page_statuses "$page")
    if ! grep -qw 2 <<<"$st" || ! page_exit "$page" | grep -q "2 on [^0-9]*usage"; then
        bad "lienthong-$c(1): EXIT STATUS does not give 2 for a usage error (statuses given: '$st')"
    fi
    "$LT" "$c" --no-such-option >/dev/null 2>&1 </dev/null
    rc=$?
    [ "$rc" -eq 2 ] || bad "'lienthong $c --no-such-option' exits $rc, lienthong-$c(1) gives 2 for a usage error"
    hs=$(help_statuses "$c")
    [ -z "$hs" ] || [ "$hs" = "$st" ] ||
        bad "'lienthong $c --help' gives exit statuses '$hs', lienthong-$c(1) gives '$st'"
done

# expect_exit CMD WANT PAGE_TEXT ERR_TEXT ARGS...: `lienthong CMD ARGS...`
# exits WANT, saying ERR_TEXT on stderr, and the EXIT STATUS section of
# lienthong-CMD(1) gives WANT and names the case with PAGE_TEXT.
expect_exit() {
    local c="$1" want="$2" text="$3" says="$4" err rc
    shift 4
    err=$(cd "$tmp" && "$LT" "$c" "$@" 2>&1 >/dev/null </dev/null)
    rc=$?
    [ "$rc" -eq "$want" ] && grep -qF -- "$says" <<<"$err" ||
        bad "lienthong $c $*: want exit $want and \"$says\", got exit $rc: $err"
    grep -qw "$want" <<<"$(page_statuses "$SRC/lienthong-$c.1.scd")" ||
        bad "lienthong-$c(1): EXIT STATUS does not give $want"
    page_exit "$SRC/lienthong-$c.1.scd" | grep -qF -- "$text" ||
        bad "lienthong-$c(1): EXIT STATUS does not say \"$text\" (exit $want)"
}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
# A configuration that loads, naming a socket no gateway listens on.
cat >"$tmp/gw.conf" <<'EOF2'
member = "VN/GOV/BCA";
listen = "tcp://127.0.0.1:7400";
key_file = "member.key";
directory = "directory.signed";
authority_keys = ["0000000000000000000000000000000000000000"];
local_socket = "gateway.sock";
EOF2
pf=(--key 079201000001 --purpose PREFILL)
pr=(--key 079201000001 --purpose PREFILL --dataset VN/GOV/BCA/population)
lk=(--key 079201000001 --purpose KYC --dataset VN/GOV/BCA/population)
expect_exit prefill 2 "a usage error" "missing --purpose" --config gw.conf --key 1
expect_exit prefill 2 "a configuration file that cannot be loaded" "cannot read file" \
    --config none.conf "${pf[@]}"
expect_exit prefill 2 "the gateway not running" "the gateway is not running" \
    --config gw.conf "${pf[@]}" --timeout 500
expect_exit profile 2 "a usage error" "bad --dataset 'VN/GOV/BCA/population:'" \
    --config gw.conf "${pr[@]}:"
expect_exit profile 2 "a configuration file that cannot be loaded" "cannot read file" \
    --config none.conf "${pr[@]}"
expect_exit profile 2 "the gateway not running" "the gateway is not running" \
    --config gw.conf "${pr[@]}" --deadline 500
# A lookup that does not reach the gateway is a failure (1); a verify
# that does not is "not answered" (2), not "false" (1).
expect_exit lookup 2 "a configuration file that cannot be loaded" "cannot read file" \
    --config none.conf "${lk[@]}"
expect_exit lookup 1 "the gateway not running" "the gateway is not running" --config gw.conf "${lk[@]}"
expect_exit verify 2 "the gateway not running" "the gateway is not running" \
    --config gw.conf "${lk[@]}" --claim full_name=X
# And the pages of the program itself and of its files.
for o in --help --version; do
    page_options "$SRC/lienthong.1.scd" | grep -qx -- "$o" || bad "lienthong(1) does not document $o"
done
for p in lienthong.1 lienthong.conf.5 lienthong-directory.5; do
    [ -s "$OUT/$p" ] || bad "$p was not rendered into $OUT"
done
# Every page refers to pages that exist.
for ref in $(cat "$SRC"/*.scd | grep -o '\*lienthong[a-z.-]*\*([15])' | sort -u); do
    name=$(echo "$ref" | tr -d '*' | sed 's/(\([15]\))/.\1/')
    [ -f "$SRC/$name.scd" ] || bad "a page refers to $ref, which does not exist"
done
echo "checked $n commands against their manual pages"
exit $fail
