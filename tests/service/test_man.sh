#!/usr/bin/env bash
# test_man.sh LIENTHONG MAN_SOURCE_DIR MAN_BUILD_DIR: the manual pages match
# the program. Every command `lienthong --help` lists has a page
# lienthong-CMD.1 that lienthong(1) names; the options in `lienthong CMD
# --help` are exactly the options the page's OPTIONS section documents; every
# page was rendered by scdoc. New commands are picked up from --help.
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
done
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
