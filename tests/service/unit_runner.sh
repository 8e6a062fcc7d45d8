#!/usr/bin/env bash
# unit_runner.sh: stands in for `systemctl` in the package test, because the
# test machine runs no systemd. It reads the INSTALLED unit file and does what
# systemd would for the parts the walkthrough uses: honours
# ConditionPathExists=, creates RuntimeDirectory= with its mode for User=,
# runs ExecStart= as User= (setpriv, so the pid is the program's), sends
# ExecReload's SIGHUP to $MAINPID, and SIGTERM on stop. State and output go
# to $LT_UNITS_DIR/UNIT.{pid,log}.
#   systemctl enable --now|start|stop|reload|restart|daemon-reload UNIT...
set -euo pipefail
dir=${LT_UNITS_DIR:?LT_UNITS_DIR must name the directory for pids and logs}
unitdir=${LT_UNIT_PATH:-/lib/systemd/system}
cmd=${1:?command}
shift
if [ "$cmd" = enable ]; then
    [ "${1:-}" = --now ] || exit 0
    shift
    cmd=start
fi
[ "$cmd" = daemon-reload ] && exit 0

for unit in "$@"; do
    u=${unit%.service}
    inst="" tmpl=$u
    if [[ $u == *@* ]]; then
        inst=${u#*@}
        tmpl=${u%%@*}@
    fi
    file=$unitdir/$tmpl.service
    [ -f "$file" ] || { echo "systemctl: unit $unit not found in $unitdir" >&2; exit 5; }
    key() { sed -n "s/^$1=//p" "$file" | head -1 | sed "s/%i/$inst/g"; }
    pidf=$dir/$u.pid
    pid=$(cat "$pidf" 2>/dev/null || true)
    stop() {
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
        kill -TERM "$pid"
        for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        rm -f "$pidf"
    }
    case $cmd in
    start | restart)
        [ "$cmd" = restart ] && stop
        cond=$(key ConditionPathExists)
        if [ -n "$cond" ] && [ ! -e "$cond" ]; then
            echo "systemctl: $unit: condition $cond not met, not started" >&2
            continue
        fi
        user=$(key User) rt=$(key RuntimeDirectory)
        [ -n "$rt" ] && install -d -o "$user" -g "$(key Group)" -m "$(key RuntimeDirectoryMode)" "/run/$rt"
        read -r -a argv <<<"$(key ExecStart)"
        setsid setpriv --reuid="$user" --regid="$(key Group)" --init-groups -- "${argv[@]}" \
            >>"$dir/$u.log" 2>&1 </dev/null &
        echo $! >"$pidf"
        ;;
    stop) stop ;;
    reload)
        reload=$(key ExecReload)
        [ -n "$pid" ] || { echo "systemctl: $unit is not running" >&2; exit 7; }
        eval "${reload//\$MAINPID/$pid}"
        ;;
    *) echo "systemctl: '$cmd' is not supported here" >&2; exit 1 ;;
    esac
done
