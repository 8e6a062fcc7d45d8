#!/usr/bin/env bash
# test_package.sh SOURCE_DIR: the Debian package, end to end, on this machine.
#
#  1. builds it (scripts/package: dpkg-buildpackage and lintian);
#  2. installs it with dpkg -i (as if systemd ran: nothing started or
#     stopped): the lienthong user, directories with their
#     owners and modes (the lienthong user cannot replace root's files in
#     /etc/lienthong), nothing enabled; `lienthong --version`; each unit
#     rated 2.0 or lower by `systemd-analyze security --offline=true`, none
#     making /etc/lienthong writable or restarting after exit 2; an upgrade
#     (dpkg -i again, as if systemd ran) neither stops nor starts a service;
#  3. `lienthong gateway --check` on the packaged example configuration;
#  4. runs the walkthrough of docs/operations.md as written: a federation of
#     two gateways (and a source and a sink adapter) started from the installed
#     unit files and the packaged examples, each "host" in its own mount
#     namespace, systemd stood in for by unit_runner.sh (no systemd runs here);
#     their logs hold nothing at WARN;
#  5. the operator mistakes of the error table: the messages say what to do;
#  6. removes it (as if systemd ran): the services and the adapters'
#     instances are stopped, by one deb-systemd-invoke (the prerm's),
#     nothing of it is left but configuration; then
#     purges it: the data and the keys stay, and the purge says so.
#
# Needs root, dpkg-dev, lintian, unshare and setpriv; exits 77 (skipped) with
# the reason otherwise, and when a lienthong package this test did not
# install is present. Runs one at a time on a machine (flock).
set -uo pipefail
SRC="$(cd "${1:?source directory}" && pwd)"
HERE="$(cd "$(dirname "$0")" && pwd)"
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "installing a package needs root"
for t in dpkg-buildpackage lintian unshare setpriv flock systemd-tmpfiles sqlite3; do
    command -v "$t" >/dev/null || skip "$t is not installed (scripts/lib.sh installs it)"
done
exec 9>/run/lock/lienthong-package-test.lock
flock -w 900 9 || skip "another package test holds the lock"

T=$(mktemp -d /tmp/lienthong-pkgtest.XXXXXX)
chmod 0711 "$T" # the lienthong user runs commands on files inside
MARK=/var/lib/lienthong-package-test.installed
fail=0
made_backups=0
made_run_systemd=0
made_dirs="" # /etc/lienthong and /var/lib/lienthong if this test made them (purge keeps them)
for d in /etc/lienthong /var/lib/lienthong; do [ -e "$d" ] || made_dirs="$made_dirs $d"; done
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }
check() { # description, command...
    local d="$1"
    shift
    if "$@"; then ok "$d"; else bad "$d"; fi
}
say() { printf '\n== %s\n' "$*"; }

cleanup() {
    for p in "$T"/hosts/*/units/*.pid; do
        [ -f "$p" ] && kill -KILL "$(cat "$p")" 2>/dev/null
    done
    if [ -f "$MARK" ]; then
        dpkg -P lienthong >/dev/null 2>&1
        rm -f "$MARK"
    fi
    [ "$made_backups" = 1 ] && rmdir /var/backups/lienthong 2>/dev/null
    [ "$made_run_systemd" = 1 ] && rmdir /run/systemd 2>/dev/null
    # shellcheck disable=SC2086 # a list of paths without blanks
    [ -n "$made_dirs" ] && rm -rf $made_dirs
    rm -rf "$T"
}
trap cleanup EXIT

say "1. build"
"$SRC/scripts/package" >"$T/package.log" 2>&1 || { cat "$T/package.log"; bad "scripts/package"; exit 1; }
DEB=$(tail -1 "$T/package.log")
grep -q "^lintian: clean" "$T/package.log" && ok "lintian: no error or warning" || bad "lintian"
[ -f "$DEB" ] || { bad "no .deb: $DEB"; exit 1; }
ok "built $(basename "$DEB")"

say "2. install"
# as_if_systemd CMD...: runs CMD as if systemd ran (/run/systemd/system
# exists, in a private mount namespace) with systemctl and
# deb-systemd-invoke replaced by stubs logging their arguments to
# $T/invoked, which it empties first.
mkdir -p "$T/fake"
for p in systemctl deb-systemd-invoke; do
    printf '#!/bin/sh\necho "%s $*" >>"%s/invoked"\n' "$p" "$T" >"$T/fake/$p"
    chmod 0755 "$T/fake/$p"
done
[ -d /run/systemd ] || { mkdir /run/systemd && made_run_systemd=1; }
as_if_systemd() {
    : >"$T/invoked"
    PATH="$T/fake:$PATH" unshare -m sh -c \
        'mount -t tmpfs none /run/systemd && mkdir /run/systemd/system && exec "$@"' _ "$@"
}
if dpkg-query -W -f='${Status}' lienthong 2>/dev/null | grep -q installed; then
    [ -f "$MARK" ] || skip "a lienthong package is installed on this machine; this test will not replace it"
    dpkg -P lienthong >/dev/null
fi
touch "$MARK"
as_if_systemd dpkg -i "$DEB" >"$T/dpkg-i.log" 2>&1 || { cat "$T/dpkg-i.log"; bad "dpkg -i"; exit 1; }
ok "dpkg -i $(basename "$DEB")"
cat "$T/invoked"
# deb-systemd-invoke is what starts or stops a unit from a maintainer
# script (debhelper's snippets and debian/lienthong.prerm alike).
check "an installation (as if systemd ran) neither starts nor stops a service" \
    sh -c "! grep -q '^deb-systemd-invoke' '$T/invoked'"
check "lienthong --version" sh -c "lienthong --version | grep -qx 'lienthong [0-9.]*'"
check "system user lienthong" getent passwd lienthong
owner() { stat -c '%U:%G %a' "$1"; }
check "/etc/lienthong root:lienthong 1770" test "$(owner /etc/lienthong)" = "root:lienthong 1770"
# The sticky bit: lienthong creates its own files (keygen) but cannot delete
# or replace root's (gateway.conf, api.conf).
install -m 0640 -g lienthong /dev/null /etc/lienthong/.pkgtest-root
echo root >/etc/lienthong/.pkgtest-root
check "lienthong cannot replace a file of root in /etc/lienthong" sh -c \
    "! runuser -u lienthong -- sh -c 'echo evil >/etc/lienthong/.pkgtest-evil && mv -f /etc/lienthong/.pkgtest-evil /etc/lienthong/.pkgtest-root' 2>/dev/null"
check "... nor delete it" sh -c "! runuser -u lienthong -- rm -f /etc/lienthong/.pkgtest-root 2>/dev/null"
check "... which holds what root wrote" grep -qx root /etc/lienthong/.pkgtest-root
check "lienthong creates and deletes its own files there" \
    runuser -u lienthong -- sh -c 'echo k >/etc/lienthong/.pkgtest-own && rm /etc/lienthong/.pkgtest-own'
rm -f /etc/lienthong/.pkgtest-*
check "/var/lib/lienthong lienthong 700" test "$(owner /var/lib/lienthong)" = "lienthong:lienthong 700"
check "/run/lienthong lienthong 700" test "$(owner /run/lienthong)" = "lienthong:lienthong 700"
check "nothing enabled" test ! -e /etc/systemd/system/multi-user.target.wants/lienthong-gateway.service
check "manual pages" test -f /usr/share/man/man5/lienthong.conf.5.gz -a -f /usr/share/man/man1/lienthong-gateway.1.gz
if systemd-analyze security --offline=true /lib/systemd/system/lienthong-gateway.service >/dev/null 2>&1; then
    for u in /lib/systemd/system/lienthong-*.service; do
        score=$(systemd-analyze security --offline=true "$u" 2>&1 | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
        check "$(basename "$u") exposure ${score:-?} <= 2.0" awk -v s="${score:-99}" 'BEGIN { exit !(s <= 2.0) }'
    done
else
    echo "skip: systemd-analyze security --offline is not available here; exposure not rated"
fi
for u in /lib/systemd/system/lienthong-*.service; do
    # ConfigurationDirectory= would bind /etc/lienthong writable over ProtectSystem=strict.
    check "$(basename "$u"): /etc/lienthong stays read-only (no ConfigurationDirectory=)" \
        sh -c "! grep -q '^ConfigurationDirectory' '$u'"
    check "$(basename "$u"): no restart after exit 2 (configuration)" grep -qx 'RestartPreventExitStatus=2' "$u"
    # A core dump would write the secrets held in ordinary memory to disk.
    check "$(basename "$u"): no core dumps" grep -qx 'LimitCORE=0' "$u"
done

as_if_systemd dpkg -i "$DEB" >"$T/dpkg-upgrade.log" 2>&1 || { cat "$T/dpkg-upgrade.log"; bad "dpkg -i (upgrade)"; }
cat "$T/invoked"
check "an upgrade neither stops nor starts a service" sh -c "! grep -q '^deb-systemd-invoke' '$T/invoked'"

say "3. --check on the packaged example"
install -d -o lienthong -g lienthong -m 0700 "$T/example"
install -o lienthong -g lienthong -m 0600 /usr/share/lienthong/examples/gateway.conf "$T/example/"
sed -i "s|/var/lib/lienthong|$T/example/data|; s|/run/lienthong|$T/example/run|" "$T/example/gateway.conf"
runuser -u lienthong -- lienthong gateway --config "$T/example/gateway.conf" --check >"$T/example.out" 2>&1
rc=$?
cat "$T/example.out"
check "--check on the unconfigured example exits 1" test "$rc" = 1
check "... and says how to create the key" grep -q "generate it as lienthong: lienthong keygen" "$T/example.out"
check "... and what the directory needs" grep -q "^error    directory: .*cannot read" "$T/example.out"

say "4. the walkthrough of docs/operations.md"
# Blocks: "<!-- run: HOST -->" then a ```sh fence; "<!-- copy: A:PATH B:PATH -->".
awk -v dir="$T/steps" '
    BEGIN { n = 0 }
    /^<!-- run: [a-z0-9]+ -->$/ { host = $3; next }
    /^<!-- copy: / { n++; f = sprintf("%s/%03d.copy", dir, n); print $3, $4 > f; close(f); next }
    /^```sh$/ && host != "" { n++; f = sprintf("%s/%03d.%s.sh", dir, n, host); inblock = 1; next }
    /^```$/ && inblock { inblock = 0; host = ""; close(f); next }
    inblock { print > f }
    /^```/ && !inblock { host = "" }
' < <(mkdir -p "$T/steps"; cat "$SRC/docs/operations.md")
nsteps=$(ls "$T/steps" | wc -l)
check "the walkthrough has its steps ($nsteps)" test "$nsteps" -ge 20
mkdir -p "$T/bin"
ln -s "$HERE/unit_runner.sh" "$T/bin/systemctl"
printf '127.0.0.1 localhost\n127.0.0.1 gw.bca.example.vn gw.p38.example.vn\n' >"$T/etc-hosts"
echo "systemd-tmpfiles --create lienthong.conf" >"$T/init.sh"
[ -d /var/backups/lienthong ] || { mkdir -p /var/backups/lienthong && made_backups=1; }

# path_in HOST PATH: where HOST's PATH lives on this machine.
path_in() {
    local h="$T/hosts/$1"
    case "$2" in
    /etc/lienthong/*) echo "$h/etc/${2#/etc/lienthong/}" ;;
    /var/lib/lienthong/*) echo "$h/lib/${2#/var/lib/lienthong/}" ;;
    /*) echo "$2" ;;
    *) echo "$h/home/$2" ;;
    esac
}
# host HOST: makes a new host's directories as the package's tmpfiles.d does.
host() {
    [ -d "$T/hosts/$1" ] && return 0
    mkdir -p "$T/hosts/$1"/{etc,lib,run,backups,home,units}
    on "$1" "$T/init.sh"
}
# on HOST SCRIPT: runs SCRIPT with HOST's directories mounted in their places.
on() {
    local h="$T/hosts/$1"
    unshare -m bash -c '
        set -e
        h=$1; shift
        mount --bind "$h/etc" /etc/lienthong
        mount --bind "$h/lib" /var/lib/lienthong
        mount --bind "$h/run" /run/lienthong
        mount --bind "$h/backups" /var/backups/lienthong
        mount --bind "$etc_hosts" /etc/hosts
        cd "$h/home"
        exec timeout 180 bash -euo pipefail "$@"' _ "$h" "$2" >>"$T/walk.log" 2>&1
}
export etc_hosts="$T/etc-hosts"
for step in "$T"/steps/*; do
    name=$(basename "$step")
    case "$name" in
    *.copy)
        read -r from to <"$step"
        host "${from%%:*}" && host "${to%%:*}"
        src=$(path_in "${from%%:*}" "${from#*:}") dst=$(path_in "${to%%:*}" "${to#*:}")
        if cp "$src" "$dst" && chmod 0644 "$dst"; then ok "copy $from -> $to"; else bad "copy $from -> $to"; fi
        ;;
    *.sh)
        host=$(echo "$name" | cut -d. -f2)
        echo "--- $name" >>"$T/walk.log"
        if host "$host" && PATH="$T/bin:$PATH" LT_UNITS_DIR="$T/hosts/$host/units" on "$host" "$step"; then
            ok "step $name"
        else
            bad "step $name (see below)"
            tail -30 "$T/walk.log"
            for l in "$T"/hosts/*/units/*.log; do echo "--- $l"; tail -15 "$l"; done
            break
        fi
        ;;
    esac
done
for h in bca p38; do
    log="$T/hosts/$h/units/lienthong-gateway.log"
    check "$h: gateway ran from the installed unit" test -s "$log"
    check "$h: nothing at WARN or ERROR in its log" sh -c "! grep -E ' (WARN|ERROR) ' '$log'"
    check "$h: lines tagged with program and member" grep -q "INFO lienthong-gateway member=" "$log"
done
check "p38: the province's table holds its residents" \
    test "$(sqlite3 "$T/hosts/p38/lib/agency/residents.db" 'SELECT COUNT(*) FROM residents')" = 2
check "bca: backup of the store is a database" test -s "$T/hosts/bca/backups/store.db"

say "5. operator mistakes and their messages"
cat >"$T/mistakes.sh" <<'EOS'
conf=/etc/lienthong/gateway.conf
as() { runuser -u lienthong -- "$@"; }
echo "# key file owned by another user"
chown root /etc/lienthong/member.key
as lienthong gateway --config $conf --check | grep key_file || true
chown lienthong /etc/lienthong/member.key
echo "# missing runtime directory"
systemctl stop lienthong-source@population lienthong-gateway
sed 's|/run/lienthong/gateway.sock|/run/lienthong-missing/gateway.sock|' $conf >/etc/lienthong/nort.conf
chgrp lienthong /etc/lienthong/nort.conf
as lienthong gateway --config /etc/lienthong/nort.conf 2>&1 | grep "cannot start" || true
echo "# wrong authority key"
sed 's|^authority_keys = .*|authority_keys = ["rogueKeyrogueKeyrogueKeyrogueKeyrogueKey"];|' $conf >/etc/lienthong/wrong.conf
chgrp lienthong /etc/lienthong/wrong.conf
as lienthong gateway --config /etc/lienthong/wrong.conf --check | grep -A1 "^error    directory" || true
echo "# keygen into a directory of another user"
install -d -m 0755 /etc/lienthong/root-only
as lienthong keygen --out /etc/lienthong/root-only/member 2>&1 || true
echo "# keygen into /etc/lienthong made by hand"
was_owner=$(stat -c %u:%g /etc/lienthong) was_mode=$(stat -c %a /etc/lienthong)
chown root:root /etc/lienthong && chmod 0755 /etc/lienthong
as lienthong keygen --out /etc/lienthong/member2 2>&1 || true
chown "$was_owner" /etc/lienthong && chmod "$was_mode" /etc/lienthong
echo "# unreachable endpoint (the ministry's gateway is stopped)"
as lienthong ping --key /etc/lienthong/member.key --server-key "$(sed -n 's/^transport_key = "\(.*\)";$/\1/p' /etc/lienthong/member.pub)" --endpoint tcp://gw.bca.example.vn:7401 || true
EOS
PATH="$T/bin:$PATH" LT_UNITS_DIR="$T/hosts/bca/units" on bca "$T/mistakes.sh" || true
sed -n '/^# key file owned/,$p' "$T/walk.log" | tee "$T/mistakes.out"
m() { grep -qF -- "$1" "$T/mistakes.out"; }
check "key file of another user: owner, mode, user and chown" \
    m "is owned by root:lienthong with mode 0600 and this process runs as lienthong; the key file must belong to the gateway's user and keep mode 0600: chown lienthong /etc/lienthong/member.key"
check "missing runtime directory: RuntimeDirectory= and install -d" \
    m "cannot create /run/lienthong-missing with mode 0700: Permission denied"
check "... with the command that fixes it" m "install -d -o lienthong -m 0700 /run/lienthong-missing"
check "wrong authority key: the signer and the pin" m "authority_keys pins rogueKeyrogueKeyrogueKeyrogueKeyrogueKey"
check "... and the fix" m "fix: authority_keys must pin the key that signed the directory"
check "keygen: why and how" m "cannot write /etc/lienthong/root-only/member.key: Permission denied (/etc/lienthong/root-only is owned by root:root with mode 0755 and this process runs as lienthong)"
check "... another directory: one of the user's own" m "install -d -o lienthong -m 0700 /etc/lienthong/root-only for keys of its own"
check "keygen into /etc/lienthong: the package's owner and mode, not the user's" \
    m "(/etc/lienthong is owned by root:root with mode 0755 and this process runs as lienthong); the directory must be as the package makes it: install -d -o root -g lienthong -m 1770 /etc/lienthong"
check "unreachable endpoint" m "unreachable: cannot open a TCP connection to gw.bca.example.vn:7401: Connection refused"

say "6. remove"
for p in "$T"/hosts/*/units/*.pid; do [ -f "$p" ] && kill -TERM "$(cat "$p")" 2>/dev/null; done
sleep 1
dpkg -L lienthong >"$T/files"
# Its conffiles (/etc/logrotate.d/lienthong-api) stay after dpkg -r, as
# Debian keeps every package's, and go with the purge.
dpkg-query -W -f='${Conffiles}\n' lienthong | awk 'NF { print $1 }' >"$T/conffiles"
check "the logrotate file is a conffile" grep -qx /etc/logrotate.d/lienthong-api "$T/conffiles"
# What an agency keeps there: its databases (walkthrough step 6) and keys.
mkdir -p /var/lib/lienthong/agency
echo data >/var/lib/lienthong/agency/pkgtest.db
echo key >/etc/lienthong/pkgtest.key
as_if_systemd dpkg -r lienthong >"$T/dpkg-r.log" 2>&1 || { cat "$T/dpkg-r.log"; bad "dpkg -r"; }
cat "$T/invoked"
for u in lienthong-gateway.service lienthong-api.service 'lienthong-source@\*.service' 'lienthong-sink@\*.service'; do
    check "dpkg -r stops ${u//\\/}" grep -Eq "^deb-systemd-invoke stop( |.* )$u( |$)" "$T/invoked"
done
# Each once: debhelper's snippets (debian/rules) stop none of them, the
# prerm stops them all, and only on remove.
check "dpkg -r stops them in one deb-systemd-invoke, and starts nothing" \
    test "$(grep -c '^deb-systemd-invoke' "$T/invoked")" = 1
# Every file the package had is gone; of its directories only shared ones
# (/usr, /lib, ...), /etc/lienthong (configuration, keys) and
# /var/lib/lienthong (data) may stay.
left=""
while read -r f; do
    if [ -d "$f" ]; then
        case "$f" in /usr/share/lienthong*) left="$left $f" ;; esac
    elif grep -qxF "$f" "$T/conffiles"; then
        check "dpkg -r keeps the conffile $f" test -e "$f"
    elif [ -e "$f" ] || [ -L "$f" ]; then
        left="$left $f"
    fi
done <"$T/files"
check "dpkg -r leaves nothing but configuration and data${left:+ (left:$left)}" test -z "$left"
check "the program is gone" test ! -e /usr/bin/lienthong
check "the runtime directory is gone" test ! -e /run/lienthong
dpkg -P lienthong >"$T/dpkg-P.log" 2>&1 || { cat "$T/dpkg-P.log"; bad "dpkg -P"; }
cat "$T/dpkg-P.log"
rm -f "$MARK"
while read -r f; do
    check "purge removes the conffile $f" test ! -e "$f"
done <"$T/conffiles"
check "purge keeps the agency's data in /var/lib/lienthong" grep -qx data /var/lib/lienthong/agency/pkgtest.db
check "... and the keys in /etc/lienthong" grep -qx key /etc/lienthong/pkgtest.key
check "... and says where they are" sh -c "grep -q 'kept /var/lib/lienthong' '$T/dpkg-P.log' && grep -q 'kept /etc/lienthong' '$T/dpkg-P.log'"
rm -f /var/lib/lienthong/agency/pkgtest.db /etc/lienthong/pkgtest.key
rmdir /var/lib/lienthong/agency
exit $fail
