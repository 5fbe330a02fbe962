#!/bin/bash
# bench/read-bench.sh — how fast does a file read through dofs, against the limits?
#
# In one run, on loopback:
#   (a) curl -o /dev/null of the file from an nginx origin   — the network limit
#   (b) cold read through a fresh dofs mount, empty cache     — target >= 0.4x (a), and
#       at most 2.0 CPU-seconds of the dofs daemon per GiB (user+sys, /proc/PID/stat)
#   (c) warm read through a FRESH mount of the filled cache   — target >= 0.4x a local
#       read of the same bytes from the page cache (dd of the original after cat); with
#       passthrough (libfuse >= 3.16) the kernel reads the content's whole copy, which the
#       node makes after the cold read; (c0) and (d0) are (c) and (d) with --no-passthrough
#   (d) a second read on that same mount (kernel page cache)  — target >= 0.8x local
#   (e) the FUSE ceiling: bench/fuse-ceiling/ceiling.c, a libfuse3 server that answers every
#       read from memory and does nothing else, mounted as dofs mounts; its fresh-mount read and
#       its second read are the most (c) and (d) can reach on this kernel and libfuse
#   (f) the disk: dd iflag=direct of the original, past the page cache — the limit of (c), whose
#       piece files were written past the page cache
# plus the dofs daemon's peak RSS (target < 100 MiB) during (b), and the bytes the origin
# sent (from nginx's access log). Reads are `dd bs=1M of=/dev/null`. The release
# binary is used. Results go to stdout and bench/results/read-<date>.txt.
#
# usage: bench/read-bench.sh [--size SIZE] [--runs N] [--dir DIR] [--keep] [--strict]
#                            [--compare BIN] [--perf]
#   --size SIZE    file size: bytes or with a suffix, 1G, 512M, 1GiB (default 1G)
#   --runs N       repeat the curl and local baselines and the warm and second reads N times,
#                  report the median (default 3)
#   --dir DIR      work directory (default: a new /tmp/dofs-bench.XXXXXX, deleted at the end)
#   --keep         keep the work directory (file, cache, logs)
#   --strict       exit 2 when a target is missed (default: report only)
#   --compare BIN  also run (b) with another dofs binary (say, the last release), first, and
#                  report its time and CPU per GiB beside this one's: before/after in one run
#   --perf         record the daemon's CPU profile during (b) with `perf record -g` and
#                  write the top symbols to bench/results/read-<date>.perf.txt
# Environment: DOFS_BIN (use this binary, skip the build), DOFS_SCRATCH_PATH.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
source "$HERE/../scripts/lib.sh"

size_arg=1G runs=3 work="" keep=0 strict=0 compare_bin="" do_perf=0
while [ $# -gt 0 ]; do
    case "$1" in
        --compare) compare_bin="${2:?--compare needs a dofs binary}"; shift 2 ;;
        --perf)   do_perf=1; shift ;;
        --size)   size_arg="${2:?--size needs a value}"; shift 2 ;;
        --runs)   runs="${2:?--runs needs a number}"; shift 2 ;;
        --dir)    work="${2:?--dir needs a directory}"; shift 2 ;;
        --keep)   keep=1; shift ;;
        --strict) strict=1; shift ;;
        -h|--help) usage_from_header "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

parse_size() {
    local s="${1%B}"
    case "$s" in
        *i) numfmt --from=iec-i "$s" ;;
        *)  numfmt --from=iec "$s" ;;
    esac
}
size="$(parse_size "$size_arg" 2>/dev/null)" || die "cannot read --size '$size_arg' (try 1G, 512M or a byte count)"
[ "$size" -ge 1 ] || die "--size must be at least 1 byte"
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "--runs needs a positive number"

bench_workdir dofs-bench
origin="$work/origin" mnt="$work/mnt" cache="$work/cache" nginx_prefix="$work/nginx"
dofs_log="$work/dofs.log" catalog="$work/catalog.json" access="$work/nginx/logs/access.log"
file=bench.bin

# ---- cleanup: always unmount, stop the sampler and nginx (by PID), remove the work dir.
NGINX_PID="" DOFS_PID="" sampler_pid="" mounted="" CEILING_PID=""
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$sampler_pid" ]; then kill "$sampler_pid" 2>/dev/null || true; wait "$sampler_pid" 2>/dev/null || true; fi
    if [ -n "$mounted" ]; then dofs_unmount "$mounted" "$DOFS_PID" || true; fi
    if [ -n "$CEILING_PID" ]; then ceiling_stop || true; fi
    if [ -n "$NGINX_PID" ]; then nginx_stop "$NGINX_PID" || true; fi
    if [ "$rc" != 0 ] && [ "$rc" != 2 ] && [ -f "$dofs_log" ]; then
        echo "--- last 30 lines of $dofs_log:" >&2
        tail -n 30 "$dofs_log" >&2 || true
    fi
    if [ "$keep" = 1 ]; then
        note "kept $work"
    elif [ "$made_work" = 1 ] || [ -f "$work/.dofs-bench" ]; then
        is_mounted "$mnt" || rm -rf "$work"
    fi
    [ "$rc" = 0 ] || [ "$rc" = 2 ] || log "benchmark FAILED (exit $rc)"
    exit "$rc"
}
trap_cleanup cleanup
touch "$work/.dofs-bench"

# median N... — the median of the numbers given.
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# dd_rates FILE — reads FILE $runs times with timed_dd; prints each read's MiB/s, a line each.
dd_rates() {
    local secs
    for _ in $(seq 1 "$runs"); do
        read -r _ secs < <(timed_dd "$1")
        note "$secs s = $(mib_per_s "$size" "$secs") MiB/s"
        mib_per_s "$size" "$secs"
    done
}

# seconds_at MIB_PER_S — seconds to read the file at that rate, 3 decimals.
seconds_at() { awk -v b="$size" -v r="$1" 'BEGIN { printf "%.3f\n", b / 1048576 / r }'; }

# timed_dd FILE — reads FILE with dd bs=1M to /dev/null; prints "BYTES SECONDS".
timed_dd() {
    local t0 secs bytes err
    err="$(mktemp "$work/dd.XXXXXX")"
    t0="$(now)"
    if ! LC_ALL=C dd if="$1" of=/dev/null bs=1M 2>"$err"; then
        cat "$err" >&2; rm -f "$err"; die "dd of $1 failed"
    fi
    secs="$(elapsed "$t0")"
    bytes="$(awk '/bytes/ { print $1; exit }' "$err")"
    rm -f "$err"
    [ "$bytes" = "$size" ] || die "dd read $bytes bytes from $1, want $size (short read)"
    printf '%s %s\n' "$bytes" "$secs"
}

# idle_ticks — idle+iowait clock ticks of the whole machine so far (all cores).
idle_ticks() { awk '/^cpu / { print $5 + $6; exit }' /proc/stat; }

# cpu_ticks PID — user+system clock ticks of PID so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# sample_rss PID OUT — every 50 ms, writes "max VmRSS kB, VmHWM kB" to OUT.
sample_rss() {
    local pid="$1" out="$2" max=0 hwm=0 rss h
    while kill -0 "$pid" 2>/dev/null; do
        rss="$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)"
        h="$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)"
        [ -n "$rss" ] && [ "$rss" -gt "$max" ] && max="$rss"
        [ -n "$h" ] && [ "$h" -gt "$hwm" ] && hwm="$h"
        printf '%s %s\n' "$max" "$hwm" >"$out.tmp" && mv -f "$out.tmp" "$out"
        sleep 0.05
    done
}

# mount_fresh [BIN [ARGS...]] — mounts the catalog with BIN (default: the binary measured), ARGS added.
mount_fresh() {
    local bin="${1:-$DOFS_BIN}"
    shift || true
    # Mode 99: the data path alone, no control plane or peers.
    dofs_mount_bg "$bin" "$mnt" "$cache" "$dofs_log" --catalog "$catalog" --download-mode 99 "$@"
    mounted="$mnt"
    [ -n "$DOFS_PID" ] || warn "could not find the dofs daemon's PID: no RSS/CPU figures"
}
unmount_now() { dofs_unmount "$mnt" "$DOFS_PID"; mounted="" DOFS_PID=""; }

# ceiling_start FILE — builds and mounts the FUSE ceiling server on $ceil_mnt, serving FILE from memory.
ceil_mnt="$work/ceiling-mnt"
ceiling_start() {
    local bin="$work/ceiling"
    gcc -O2 -o "$bin" "$HERE/fuse-ceiling/ceiling.c" $(pkg-config --cflags --libs fuse3) \
        || die "cannot build bench/fuse-ceiling/ceiling.c"
    ceiling_mount "$ceil_mnt" "$work/ceiling.out" "$bin" "$ceil_mnt" "$1" memory
}
ceiling_stop() { ceiling_unmount "$ceil_mnt"; }

# ---- setup
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v l="${load_start%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
    warn "load average is $load_start on $(nproc) cores: other work will skew the figures"
fi
ensure_system_packages "${DOFS_SYSTEM_PACKAGES[@]}"
check_fuse || die "FUSE is not usable on this machine"
build_dofs release
mkdir -p "$origin" "$mnt" "$cache"

log "making a $(human_bytes "$size") file of pseudo-random bytes"
t0="$(now)"
make_random_file "$origin/$file" "$size" dofs-bench
note "$(elapsed "$t0") s"

port="$(free_port)"
base="http://127.0.0.1:$port"
log "nginx origin on $base/"
nginx_start "$origin" "$nginx_prefix" "$port"

log "dofs publish"
t0="$(now)"
entry="$(publish_entry "$DOFS_BIN" "$origin/$file" "$base/$file" "$origin/$file.phf" "$base/$file.phf" "$file")"
publish_s="$(elapsed "$t0")"
write_catalog "$catalog" "$entry"
piece_size="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["_publish"]["PieceSize"])' "$entry")"
note "$publish_s s ($(mib_per_s "$size" "$publish_s") MiB/s hashing)"

# The origin serves from memory, for curl and dofs alike: this VM's proactive reclaim (DAMON,
# `pageout`) evicts page-cache pages a few seconds after their last use, and a cold read that found
# half the original evicted timed nginx reading the disk, not dofs. So the original is read into the
# page cache again right before each timed fetch from the origin, and its residency is reported.
cache_origin_file() { cat "$origin/$file" >/dev/null; }
# resident_pct FILE — the share of FILE in the page cache now (fincore), or n/a.
resident_pct() {
    command -v fincore >/dev/null 2>&1 || { echo n/a; return; }
    fincore --bytes --noheadings --output RES,SIZE "$1" 2>/dev/null \
        | awk '{ if ($2 > 0) printf "%.0f%%\n", 100 * $1 / $2; else print "n/a" }'
}
cache_origin_file
log "warming $(human_bytes $(( 3 * size + (1 << 30) ))) of memory (see warm_memory in scripts/lib.sh)"
t0="$(now)"
warm_memory $(( 3 * size + (1 << 30) ))
note "$(elapsed "$t0") s"

# ---- (a) curl: the limit
log "(a) curl -o /dev/null $base/$file  x$runs"
curl_rates=()
for _ in $(seq 1 "$runs"); do
    cache_origin_file
    read -r got secs < <(curl -sS -o /dev/null --max-time 600 -w '%{size_download} %{time_total}\n' "$base/$file") \
        || die "curl failed"
    [ "$got" = "$size" ] || die "curl got $got bytes, want $size"
    curl_rates+=("$(mib_per_s "$size" "$secs")")
    note "$secs s = ${curl_rates[-1]} MiB/s"
done
curl_mibs="$(median "${curl_rates[@]}")"

# ---- an untimed cold read first: the first cold read of a run took 1.95-2.07 s where the same binary
# took 1.33-1.74 s right after it (`--compare` with itself, 2026-12-04), so whichever binary went
# first was charged for it. Its cache folder stays until the end (see (b0) on deletions).
log "untimed cold read (a warm-up: the first cold read of a run is slower, whatever the binary)"
cache_main="$cache" cache="$work/cache-warmup"
mkdir -p "$cache"
mount_fresh
cache_origin_file
read -r _ warmup_s < <(timed_dd "$mnt/$file")
note "$warmup_s s, not counted"
unmount_now
cache="$cache_main"

# ---- (b0) the comparison binary's cold read, first (the same file, an empty cache of its own)
cmp_s="" cmp_cpu="" cmp_hwm="" cmp_idle=""
if [ -n "$compare_bin" ]; then
    [ -x "$compare_bin" ] || die "--compare $compare_bin is not an executable file"
    log "(b0) cold read with $compare_bin: fresh mount, empty cache"
    # A cache folder of its own, deleted only at the end: ext4 makes inode allocation slow just after
    # many deletions (`recently_deleted`), which would charge the binary measured second for the
    # first one's 1,024 deleted piece files.
    cache_main="$cache" cache="$work/cache-compare"
    rm -rf "$cache"; mkdir -p "$cache"
    mount_fresh "$compare_bin"
    cache_origin_file
    ct0="$(cpu_ticks "$DOFS_PID")" ci0="$(idle_ticks)"
    read -r _ cmp_s < <(timed_dd "$mnt/$file")
    cmp_cpu="$(awk -v t=$(( $(cpu_ticks "$DOFS_PID") - ct0 )) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')"
    cmp_idle="$(awk -v t=$(( $(idle_ticks) - ci0 )) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')"
    cmp_hwm="$(awk '/^VmHWM:/ { print $2 }' "/proc/$DOFS_PID/status" 2>/dev/null || echo 0)"
    note "$cmp_s s, daemon CPU $cmp_cpu s, peak RSS $cmp_hwm kB"
    unmount_now
    cache="$cache_main"
fi

# ---- (b) cold read, fresh mount, empty cache
log "(b) cold read: fresh mount, empty cache"
rm -rf "$cache"; mkdir -p "$cache"
mount_fresh
lines0="$(log_lines "$access")"
perf_pid=""
if [ "$do_perf" = 1 ] && [ -n "$DOFS_PID" ]; then
    command -v perf >/dev/null 2>&1 || die "--perf needs perf (package linux-perf)"
    perf record -q -F 499 -g -p "$DOFS_PID" -o "$work/perf.data" >/dev/null 2>&1 &
    perf_pid=$!
    sleep 0.5
fi
ticks0=0
rss_file="$work/rss"
echo "0 0" >"$rss_file"
if [ -n "$DOFS_PID" ]; then
    ticks0="$(cpu_ticks "$DOFS_PID")"
    sample_rss "$DOFS_PID" "$rss_file" &
    sampler_pid=$!
fi
cache_origin_file
origin_resident="$(resident_pct "$origin/$file")"
idle0="$(idle_ticks)"
read -r _ cold_s < <(timed_dd "$mnt/$file")
cold_idle="$(awk -v t=$(( $(idle_ticks) - idle0 )) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')"
if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true
fi
cold_mibs="$(mib_per_s "$size" "$cold_s")"
note "$cold_s s = $cold_mibs MiB/s"
cpu_s="n/a" hwm_kb="" maxrss_kb=""
if [ -n "$DOFS_PID" ]; then
    hwm_now="$(awk '/^VmHWM:/ { print $2 }' "/proc/$DOFS_PID/status" 2>/dev/null || echo 0)"
    ticks1="$(cpu_ticks "$DOFS_PID")"
    kill "$sampler_pid" 2>/dev/null || true; wait "$sampler_pid" 2>/dev/null || true; sampler_pid=""
    read -r maxrss_kb hwm_kb <"$rss_file"
    [ "${hwm_now:-0}" -gt "${hwm_kb:-0}" ] && hwm_kb="$hwm_now"
    cpu_s="$(awk -v t=$((ticks1 - ticks0)) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')"
fi
cold_origin="$(origin_bytes "$access" "$lines0")"
cold_reqs="$(origin_requests "$access" "$lines0")"
cold_pieces="$(getfattr --only-values -n user.dofs.pieces "$mnt/$file" 2>/dev/null || echo n/a)"
cold_sources="$(getfattr --only-values -n user.dofs.sources "$mnt/$file" 2>/dev/null || echo n/a)"
# The whole copy may be under way: its temporary file can be renamed while du walks the cache, and du
# still prints the total then.
cache_bytes="$({ du -sb "$cache" 2>/dev/null || true; } | cut -f1)"
note "origin sent $(human_bytes "$cold_origin") in $cold_reqs requests; pieces $cold_pieces; sources $cold_sources"

# The whole copy that passthrough serves is made once the read closed the file (see WholeCopies).
copy_state="$(getfattr --only-values -n user.dofs.copy "$mnt/$file" 2>/dev/null || echo n/a)"
copy_s="n/a" copy_cpu="n/a"
if [ "$copy_state" != n/a ]; then
    log "    waiting for the whole copy (user.dofs.copy: $copy_state)"
    ct0="$(now)" cpt0=0
    [ -n "$DOFS_PID" ] && cpt0="$(cpu_ticks "$DOFS_PID")"
    for _ in $(seq 1 1200); do
        copy_state="$(getfattr --only-values -n user.dofs.copy "$mnt/$file" 2>/dev/null || echo n/a)"
        [ "$copy_state" = ready ] && break
        sleep 0.1
    done
    copy_s="$(elapsed "$ct0")"
    [ -n "$DOFS_PID" ] && copy_cpu="$(awk -v t=$(( $(cpu_ticks "$DOFS_PID") - cpt0 )) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')"
    note "copy $copy_state after $copy_s s more, daemon CPU $copy_cpu s"
fi

# ---- (c0) warm read on a fresh mount without passthrough: dofs serves every read from its pieces
log "(c0) warm read with --no-passthrough: fresh mounts of the filled cache  x$runs, then (d0) second reads"
warm_np_rates=() second_np_rates=()
for _ in $(seq 1 "$runs"); do
    unmount_now
    mount_fresh "$DOFS_BIN" --no-passthrough
    read -r _ secs < <(timed_dd "$mnt/$file")
    warm_np_rates+=("$(mib_per_s "$size" "$secs")")
    read -r _ secs < <(timed_dd "$mnt/$file")
    second_np_rates+=("$(mib_per_s "$size" "$secs")")
    note "warm ${warm_np_rates[-1]} MiB/s, second ${second_np_rates[-1]} MiB/s"
done
warm_np_mibs="$(median "${warm_np_rates[@]}")" second_np_mibs="$(median "${second_np_rates[@]}")"
warm_np_s="$(seconds_at "$warm_np_mibs")" second_np_s="$(seconds_at "$second_np_mibs")"

# ---- (c) warm read on a fresh mount vs a local page-cache read
log "(c) warm read: fresh mounts of the filled cache  x$runs (the median)"
lines1="$(log_lines "$access")"
warm_rates=() warm_ticks=0
for _ in $(seq 1 "$runs"); do
    unmount_now
    mount_fresh
    wt0=0; [ -n "$DOFS_PID" ] && wt0="$(cpu_ticks "$DOFS_PID")"
    read -r _ secs < <(timed_dd "$mnt/$file")
    [ -n "$DOFS_PID" ] && warm_ticks=$(( warm_ticks + $(cpu_ticks "$DOFS_PID") - wt0 ))
    warm_rates+=("$(mib_per_s "$size" "$secs")")
    note "$secs s = ${warm_rates[-1]} MiB/s"
done
warm_mibs="$(median "${warm_rates[@]}")" warm_s="$(seconds_at "$(median "${warm_rates[@]}")")"
warm_cpu="n/a"
[ -n "$DOFS_PID" ] && warm_cpu="$(awk -v t="$warm_ticks" -v n="$runs" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz / n }')"
warm_origin="$(origin_bytes "$access" "$lines1")"
note "median $warm_mibs MiB/s (origin sent $warm_origin bytes)"

log "    local baseline: dd of the original in the page cache  x$runs"
cat "$origin/$file" >/dev/null
mapfile -t local_rates < <(dd_rates "$origin/$file")
local_mibs="$(median "${local_rates[@]}")"

# ---- (d) second read on the same mount
log "(d) second read on the same mount  x$runs (the median)"
lines2="$(log_lines "$access")"
st0=0; [ -n "$DOFS_PID" ] && st0="$(cpu_ticks "$DOFS_PID")"
mapfile -t second_rates < <(dd_rates "$mnt/$file")
second_cpu="n/a"
[ -n "$DOFS_PID" ] && second_cpu="$(awk -v t=$(( $(cpu_ticks "$DOFS_PID") - st0 )) -v n="$runs" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz / n }')"
second_mibs="$(median "${second_rates[@]}")" second_s="$(seconds_at "$second_mibs")"
second_origin="$(origin_bytes "$access" "$lines2")"
note "median $second_mibs MiB/s (origin sent $second_origin bytes)"

log "data check: cmp of the mounted file with the original"
if cmp -s "$mnt/$file" "$origin/$file"; then data_check="OK (identical)"; else data_check="MISMATCH"; fi
note "$data_check"
warn_lines="$(grep -ciE 'error|warn' "$dofs_log" 2>/dev/null || true)"
unmount_now
nginx_stop "$NGINX_PID"; NGINX_PID=""

# ---- (e) the FUSE ceiling: the same two reads from a server that does nothing but answer
log "(e) FUSE ceiling: fresh mount of a server answering from memory, then a second read"
ceiling_start "$origin/$file"
read -r _ ceil_fresh_s < <(timed_dd "$ceil_mnt/data")
read -r _ ceil_second_s < <(timed_dd "$ceil_mnt/data")
ceiling_stop
ceil_fresh_mibs="$(mib_per_s "$size" "$ceil_fresh_s")"
ceil_second_mibs="$(mib_per_s "$size" "$ceil_second_s")"
note "fresh $ceil_fresh_s s = $ceil_fresh_mibs MiB/s, second $ceil_second_s s = $ceil_second_mibs MiB/s"

log "(f) the disk: dd iflag=direct of the original"
disk_t0="$(now)"
LC_ALL=C dd if="$origin/$file" of=/dev/null bs=4M iflag=direct 2>/dev/null || die "dd iflag=direct of $origin/$file failed"
disk_s="$(elapsed "$disk_t0")"
disk_mibs="$(mib_per_s "$size" "$disk_s")"
note "$disk_s s = $disk_mibs MiB/s"

# ---- report
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "0.00"; else printf "%.2f\n", a / b }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t ? "PASS" : "MISSED") }'; }
r_cold="$(ratio "$cold_mibs" "$curl_mibs")"
r_warm="$(ratio "$warm_mibs" "$local_mibs")"
r_second="$(ratio "$second_mibs" "$local_mibs")"
v_cold="$(verdict "$r_cold" 0.4)" v_warm="$(verdict "$r_warm" 0.4)" v_second="$(verdict "$r_second" 0.8)"
# CPU-seconds of the daemon per GiB read cold (lower is better).
per_gib() { if [ "$1" = n/a ] || [ -z "$1" ]; then echo n/a; else awk -v c="$1" -v b="$size" 'BEGIN { printf "%.2f", c / (b / 1073741824) }'; fi; }
cpu_gib="$(per_gib "$cpu_s")"
v_cpu="$(awk -v c="$cpu_gib" 'BEGIN { print (c != "n/a" && c <= 2.0 ? "PASS" : "MISSED") }')"
v_rss="$(awk -v k="${hwm_kb:-0}" 'BEGIN { print (k > 0 && k < 102400 ? "PASS" : "MISSED") }')"
kb_mib() { if [ -n "$1" ] && [ "$1" != 0 ]; then awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; else echo n/a; fi; }
rev="$(git -C "$DOFS_ROOT" rev-parse --short HEAD 2>/dev/null || echo none)"
git -C "$DOFS_ROOT" diff --quiet HEAD -- Sources 2>/dev/null || rev="$rev+uncommitted"

mkdir -p "$HERE/results"
stamp="$(date -u +%Y%m%d-%H%M%S)"
results="$HERE/results/read-$stamp.txt"
{
    echo "dofs read benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "machine: $(uname -srm), $(nproc) cores, $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
    echo "dofs:    $DOFS_BIN (rev $rev)"
    echo "file:    $(human_bytes "$size") ($size bytes), pieces of $(human_bytes "$piece_size"); origin nginx $(nginx -v 2>&1 | sed 's|.*/||') on 127.0.0.1"
    echo "reads:   dd bs=1M of=/dev/null; curl, local, (c0), (d0), (c) and (d) are the median of $runs runs"
    echo "load:    $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (1/5/15-min averages)"
    echo
    printf '%-46s %10s %9s %12s\n' "" "MiB/s" "seconds" "dofs CPU s"
    printf '%-46s %10s %9s\n' "(a) curl -o /dev/null (the limit)" "$curl_mibs" "$(awk -v b="$size" -v r="$curl_mibs" 'BEGIN { printf "%.3f", b / 1048576 / r }')"
    printf '%-46s %10s %9s %12s\n' "(b) cold read, fresh mount, empty cache" "$cold_mibs" "$cold_s" "$cpu_s"
    printf '%-46s %10s %9s\n' "(c0) warm read, --no-passthrough" "$warm_np_mibs" "$warm_np_s"
    printf '%-46s %10s %9s\n' "(d0) second read, --no-passthrough" "$second_np_mibs" "$second_np_s"
    printf '%-46s %10s %9s %12s\n' "(c) warm read, fresh mount, cache filled" "$warm_mibs" "$warm_s" "$warm_cpu"
    printf '%-46s %10s %9s\n' "    local file in the page cache" "$local_mibs" "$(awk -v b="$size" -v r="$local_mibs" 'BEGIN { printf "%.3f", b / 1048576 / r }')"
    printf '%-46s %10s %9s %12s\n' "(d) second read, same mount" "$second_mibs" "$second_s" "$second_cpu"
    printf '%-46s %10s %9s\n' "(e) FUSE ceiling, fresh mount (limit of c)" "$ceil_fresh_mibs" "$ceil_fresh_s"
    printf '%-46s %10s %9s\n' "    FUSE ceiling, second read (limit of d)" "$ceil_second_mibs" "$ceil_second_s"
    printf '%-46s %10s %9s\n' "(f) the disk, dd iflag=direct (limit of c)" "$disk_mibs" "$disk_s"
    echo
    printf '%-22s %7s %9s   %s\n' "ratio" "value" "target" "result"
    printf '%-22s %7s %9s   %s\n' "cold / curl" "$r_cold" ">= 0.4" "$v_cold"
    printf '%-22s %7s %9s   %s\n' "cold CPU s per GiB" "$cpu_gib" "<= 2.0" "$v_cpu"
    printf '%-22s %7s %9s   %s\n' "peak RSS (VmHWM)" "$(kb_mib "$hwm_kb")" "< 100 MiB" "$v_rss"
    printf '%-22s %7s %9s   %s\n' "warm / local" "$r_warm" ">= 0.4" "$v_warm"
    printf '%-22s %7s %9s   %s\n' "second / local" "$r_second" ">= 0.8" "$v_second"
    printf '%-22s %7s %9s   %s\n' "ceiling fresh / local" "$(ratio "$ceil_fresh_mibs" "$local_mibs")" "" "the most (c) / local can be"
    printf '%-22s %7s %9s   %s\n' "ceiling second / local" "$(ratio "$ceil_second_mibs" "$local_mibs")" "" "the most (d) / local can be"
    printf '%-22s %7s %9s   %s\n' "warm / ceiling" "$(ratio "$warm_mibs" "$ceil_fresh_mibs")" "" ""
    printf '%-22s %7s %9s   %s\n' "warm / disk" "$(ratio "$warm_mibs" "$disk_mibs")" "" ""
    printf '%-22s %7s %9s   %s\n' "second / ceiling" "$(ratio "$second_mibs" "$ceil_second_mibs")" "" ""
    printf '%-22s %7s %9s   %s\n' "warm / c0" "$(ratio "$warm_mibs" "$warm_np_mibs")" "" "passthrough against dofs serving"
    printf '%-22s %7s %9s   %s\n' "second / d0" "$(ratio "$second_mibs" "$second_np_mibs")" "" ""
    echo
    echo "whole copy for passthrough: $copy_state $copy_s s after the cold read, daemon CPU $copy_cpu s; dofs linked with $(ldd "$DOFS_BIN" | grep -o 'libfuse3[^ ]* => [^ ]*' || echo 'no libfuse?')"
    if [ -n "$compare_bin" ]; then
        echo
        echo "before/after, cold read in this run: $compare_bin took $cmp_s s and $(per_gib "$cmp_cpu") CPU s/GiB, peak RSS $(kb_mib "$cmp_hwm"), machine idle $cmp_idle CPU-s;"
        echo "  this binary took $cold_s s and $cpu_gib CPU s/GiB, peak RSS $(kb_mib "$hwm_kb"), machine idle $cold_idle CPU-s"
    fi
    echo
    echo "dofs daemon during the cold read: peak RSS (VmHWM) $(kb_mib "$hwm_kb"), max sampled VmRSS $(kb_mib "$maxrss_kb"), CPU ${cpu_s} s (user+sys)"
    echo "machine during the cold read: $cold_idle CPU-s idle of $(awk -v s="$cold_s" -v n="$(nproc)" 'BEGIN { printf "%.2f", s * n }') (cores x seconds): what the read left unused"
    echo "origin file in the page cache when the cold read started: $origin_resident (read in again before each timed fetch from the origin)"
    echo "untimed warm-up cold read before the timed ones (this binary): $warmup_s s"
    echo "origin bytes: cold $cold_origin in $cold_reqs requests ($(ratio "$cold_origin" "$size")x the file), warm $warm_origin, second $second_origin"
    echo "cache after the cold read: $(human_bytes "$cache_bytes") on disk; user.dofs.pieces $cold_pieces; user.dofs.sources $cold_sources"
    echo "publish: $publish_s s; dofs log lines with error/warn: ${warn_lines:-0}"
    echo "data check: $data_check"
} | tee "$results"
echo
log "results written to $results"
if [ -f "$work/perf.data" ]; then
    perf report -i "$work/perf.data" --no-children --sort sym --stdio 2>/dev/null \
        | grep -v '^$' | grep -E '^ +[0-9.]+%' | head -n 40 >"${results%.txt}.perf.txt" || true
    log "CPU profile of the cold read (self time, top symbols): ${results%.txt}.perf.txt"
fi

[ "$data_check" = "OK (identical)" ] || die "the file read through dofs differs from the original"
if [ "$strict" = 1 ] && { [ "$v_cold" != PASS ] || [ "$v_warm" != PASS ] || [ "$v_second" != PASS ]; }; then
    log "a target was missed (--strict)"
    exit 2
fi
exit 0
