# scripts/lib-scale.sh: `scripts/bench --scale N` (sourced by scripts/bench
# once it has built the Release tree into $B). Runs bench/bench_scale on a
# register of 1,000,000 citizens and of N (the first 1,000,000 of the same
# register), then prints the figures of both side by side with N / 1M.
# Not part of scripts/test nor of the default benchmark run.

# Free bytes of the filesystem holding path.
lt_scale_free() {
    df --output=avail -B1 "$1" | tail -1 | tr -d ' '
}

# Refuses (1) when the disk cannot hold the register (if it is still to be
# made) and three gateway stores of n records (owner, live consumer, new
# consumer) with room to spare. The per-record sizes are the measured ones
# (docs/performance.md, "Scale") rounded up.
lt_scale_disk() {
    local n="$1" reg="$2" out_dir="$3"
    local store=$((n * 3 * 600 + 2 * 1024 * 1024 * 1024)) register=0
    [ -f "$reg" ] || register=$((n * 300))
    local tmp_free out_free
    tmp_free="$(lt_scale_free /tmp)"
    out_free="$(lt_scale_free "$out_dir")"
    if [ "$(stat -c %d /tmp)" = "$(stat -c %d "$out_dir")" ]; then
        store=$((store + register))
        register=0
    fi
    if [ "$tmp_free" -lt "$store" ] || [ "$out_free" -lt "$register" ]; then
        echo "bench: --scale $n needs about $((store / 1073741824 + 1)) GiB free under /tmp (the gateways' stores)" \
            "and $((register / 1073741824 + 1)) GiB under $out_dir (the register);" \
            "free: $((tmp_free / 1073741824)) GiB and $((out_free / 1073741824)) GiB. Not run." >&2
        return 1
    fi
    echo "disk: $((tmp_free / 1073741824)) GiB free under /tmp, about $((store / 1073741824 + 1)) GiB needed"
}

# Makes the register of n citizens with seed, unless it is there: popgen
# in rounds of 1,000,000 into a .partial file renamed when complete (popgen
# derives each round from the seed and the rows already there, so the
# same n and seed always give the same register).
lt_scale_register() {
    local n="$1" seed="$2" reg="$3" done=0 step
    if [ -f "$reg" ]; then
        echo "register: reusing $reg"
        return 0
    fi
    rm -f "$reg.partial"
    local t0=$SECONDS
    while [ "$done" -lt "$n" ]; do
        step=$((n - done < 1000000 ? n - done : 1000000))
        "$B/lienthong-popgen" --db "$reg.partial" --citizens "$step" --seed "$seed" >/dev/null || return 1
        done=$((done + step))
        echo "register: $done of $n citizens, $((SECONDS - t0)) s"
    done
    # popgen's last close folds its WAL into the file: a WAL left over
    # would not follow the rename
    if [ -s "$reg.partial-wal" ]; then
        echo "bench: $reg.partial-wal is not empty after popgen; not renamed" >&2
        return 1
    fi
    rm -f "$reg.partial-wal" "$reg.partial-shm"
    mv "$reg.partial" "$reg"
}

# One bench_scale run of size records, its lines in out_file.
lt_scale_run() {
    local size="$1" reg="$2" out_file="$3"
    local lookups="${LT_BENCH_SCALE_LOOKUPS:-5000}" rate="${LT_BENCH_SCALE_MIN_RATE:-5000}"
    local limit=$((3 * (120 + size / rate) + 600))
    lt_say "scale: $size citizens (time limit $limit s)"
    timeout --signal=TERM --kill-after=10 "$limit" \
        "$B/bench/bench_scale" "$LT" "$reg" "$size" "$lookups" "$rate" \
        2>"$out_file.err" | tee "$out_file"
    local rc=${PIPESTATUS[0]}
    if [ "$rc" -ne 0 ]; then
        echo "bench: scale run of $size citizens failed or did not finish within $limit s (exit $rc)"
        tail -30 "$out_file.err"
        return 1
    fi
}

# The side-by-side table of two runs' `scale: NAME VALUE UNIT` lines.
lt_scale_table() {
    local base="$1" n="$2" a="$3" b="$4"
    lt_say "scale: $n citizens beside $base, same run"
    awk -v base="$base" -v n="$n" '
        FNR == 1 { f++ }
        $1 == "scale:" && $2 != "progress" && $2 != "records" {
            if (f == 1) { x[$2] = $3; unit[$2] = $4; order[++k] = $2 } else y[$2] = $3
        }
        END {
            printf "%-36s %14s %14s %8s  %s\n", "figure", base, n, "N/base", "target"
            for (i = 1; i <= k; i++) {
                m = order[i]
                r = ((m in y) && x[m] > 0) ? y[m] / x[m] : -1
                t = ""
                if (m ~ /throughput/) t = (r >= 0.8) ? "met (>= 0.8)" : "not met (>= 0.8)"
                else if (m ~ /latency/) t = (r >= 0 && r <= 1.2) ? "met (<= 1.2)" : "not met (<= 1.2)"
                printf "%-36s %14s %14s %8s  %s\n", m " (" unit[m] ")", x[m],
                       ((m in y) ? y[m] : "-"), ((r >= 0) ? sprintf("%.2f", r) : "-"), t
            }
        }' "$a" "$b"
}

lt_scale() {
    local n="$1" seed="${LT_BENCH_SCALE_SEED:-1}" base="${LT_BENCH_SCALE_BASE:-1000000}"
    [ "$base" -gt "$n" ] && base="$n"
    local dir="$LT_ROOT/out/scale"
    local reg="$dir/register-$n-seed$seed.db"
    mkdir -p "$dir" || return 1
    echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
        "load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "gateways: store_cache_mb = ${LT_BENCH_STORE_CACHE_MB:-default (64)}"
    lt_scale_disk "$n" "$reg" "$dir" || return 1
    lt_scale_register "$n" "$seed" "$reg" || return 1
    lt_scale_run "$base" "$reg" "$dir/run-$base.txt" || return 1
    if [ "$n" != "$base" ]; then
        lt_scale_run "$n" "$reg" "$dir/run-$n.txt" || return 1
    fi
    lt_scale_table "$base" "$n" "$dir/run-$base.txt" "$dir/run-$n.txt"
    echo "finished $(date -u '+%H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
}
