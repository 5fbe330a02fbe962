#!/bin/bash
# bench/peer-cpu-bench.sh — what one headless swarm peer costs in CPU, apart from the bytes it moves.
#
# A small, repeatable cut of fleet-bench's swarm: --peers `dofs get --seed-for` peers on 127.0.0.x
# (each its own cache) fetch one content from an origin limited to --rate Mbit/s (tc htb on lo, as
# fleet-bench), then all of them stay up --idle seconds holding everything with nothing to do. From
# /proc it sums each peer's utime + stime:
#   - download: CPU-seconds per peer until the last one finished (serving the others included),
#     and per GiB the peers received;
#   - idle: CPU-milliseconds per peer per second, and voluntary context switches (wake-ups) per peer
#     per second. A seeder with nothing to do should cost ~0.
# With --compare OLD_BIN each round runs OLD_BIN's swarm, then DOFS_BIN's (each with a fresh control
# plane of its own build), --rounds times, so the two builds meet the same machine load.
# Results go to stdout and bench/results/peercpu-<date>.txt.
#
# usage: bench/peer-cpu-bench.sh [--peers N] [--size SIZE] [--rate MBIT] [--idle S] [--rounds R]
#                                [--compare OLD_BIN] [--dir DIR] [--keep]
# Environment: DOFS_BIN (the build to measure; built in release when unset).
# Needs root (tc) and nginx.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
source "$HERE/../scripts/lib.sh"

peers=24 size_arg=32M rate=200 idle=20 rounds=1 compare="" work="" keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --peers)   peers="${2:?}"; shift 2 ;;
        --size)    size_arg="${2:?}"; shift 2 ;;
        --rate)    rate="${2:?}"; shift 2 ;;
        --idle)    idle="${2:?}"; shift 2 ;;
        --rounds)  rounds="${2:?}"; shift 2 ;;
        --compare) compare="${2:?}"; shift 2 ;;
        --dir)     work="${2:?}"; shift 2 ;;
        --keep)    keep=1; shift ;;
        -h|--help) usage_from_header "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
size="$(numfmt --from=iec "${size_arg%B}")" || die "cannot read --size '$size_arg'"
[[ "$peers" =~ ^[1-9][0-9]*$ ]] && [ "$peers" -le 200 ] || die "--peers takes 1 to 200"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "--rounds takes a positive count"
[ "$(id -u)" -eq 0 ] || die "needs root (tc on lo)"
[ -z "$compare" ] || [ -x "$compare" ] || die "--compare: $compare is not an executable"

bench_workdir dofs-peercpu-bench
mkdir -p "$HERE/results"
results="$HERE/results/peercpu-$(date -u +%Y%m%d-%H%M%S).txt"

CP_PID="" NGINX_PID="" SHAPED=0
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$CP_PID" ] && stop_child "$CP_PID" control-plane
    [ -n "$NGINX_PID" ] && nginx_stop "$NGINX_PID" || true
    [ "$SHAPED" = 1 ] && tc qdisc del dev lo root 2>/dev/null || true
    if [ "$keep" = 1 ]; then note "kept $work"; elif [ "$made_work" = 1 ]; then rm -rf "$work"; fi
    [ "$rc" = 0 ] || log "benchmark FAILED (exit $rc)"
    exit "$rc"
}
trap_cleanup cleanup
say() { printf '%s\n' "$*" | tee -a "$results"; }

build_dofs release
"$DOFS_BIN" keygen --out "$work/keys" >/dev/null
if [ -n "$(tc qdisc show dev lo | grep -v 'noqueue' || true)" ]; then
    die "lo already has a qdisc ($(tc qdisc show dev lo)); not touching it"
fi
bench_origin "$work" content.bin "$size" peercpu
origin_port="$port"
access="$work/nginx/logs/access.log"
tc qdisc add dev lo root handle 1: htb
SHAPED=1
tc class add dev lo parent 1: classid 1:10 htb rate "${rate}mbit" ceil "${rate}mbit" burst 256k cburst 256k quantum 60000
tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip sport "$origin_port" 0xffff flowid 1:10

say "== peer-cpu-bench: $peers peers, $(human_bytes "$size"), origin ${rate} Mbit/s, idle ${idle} s, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
[ -n "$compare" ] && say "   old: $compare ($(sha256sum <"$compare" | cut -c1-12)), new: $DOFS_BIN ($(sha256sum <"$DOFS_BIN" | cut -c1-12))"
say "$(printf '%-10s %7s %11s %9s %11s %11s %13s %13s' build done origin/size 'p50 s' 'CPU-s/peer' 'CPU-s/GiB' 'idle ms/s/pr' 'idle wake/s/pr')"

# one_run NAME BIN — a fresh control plane of BIN's build, one swarm of BIN's peers; prints its row.
one_run() {
    local name="$1" bin="$2" cp_port id
    cp_port="$(free_port)"
    "$bin" control-plane --listen "127.0.0.1:$cp_port" --trusted-proxy 127.0.0.1 --data "$work/cp-$name" \
        --publisher-key "$work/keys/publisher.pub" --reannounce-secs 10 --log-level warning >"$work/cp-$name.log" 2>&1 &
    CP_PID=$!
    wait_http "http://127.0.0.1:$cp_port/geo" "$work/cp-$name.log"
    id="$("$bin" publish "$work/origin/content.bin" --url "$url" --phf-out "$work/content-$name.phf" \
            --control-plane "http://127.0.0.1:$cp_port" --key "$work/keys/publisher.key" \
          | python3 -c 'import json,sys; print(json.load(sys.stdin)["ContentId"])')"
    python3 "$HERE/fleet/swarm.py" "$bin" "http://127.0.0.1:$cp_port" "$id" "$work/run-$name" "$access" \
        --peers "$peers" --idle "$idle" --timeout 240 >"$work/$name.json"
    stop_child "$CP_PID" control-plane
    CP_PID=""
    [ "$keep" = 1 ] || rm -rf "$work/run-$name"
    python3 - "$size" "${name%%-*}" "$work/$name.json" <<'PY' | tee -a "$results"
import json, sys
size, build, r = int(sys.argv[1]), sys.argv[2], json.load(open(sys.argv[3]))
n = max(r["cpu_peers"], 1)
gib = r["completed"] * size / 2**30
idle = (f"{1000 * r['idle_cpu_s'] / r['idle_peers'] / r['idle_s']:13.1f} {r['idle_wakeups'] / r['idle_peers'] / r['idle_s']:13.1f}"
        if r.get("idle_s") else f"{'-':>13} {'-':>13}")
p50 = f"{r['p50']:9.2f}" if r["p50"] is not None else f"{'-':>9}"
print(f"{build:<10} {r['completed']:>3}/{r['peers']:<3} {r['origin_bytes'] / size:11.2f} {p50} {r['cpu_s'] / n:11.3f} "
      f"{r['cpu_s'] / max(gib, 1e-9):11.2f} {idle}" + (f"  failed {r['failed']}" if r["failed"] else ""))
PY
}

for round in $(seq 1 "$rounds"); do
    [ -n "$compare" ] && one_run "old-$round" "$compare"
    one_run "new-$round" "$DOFS_BIN"
done
say ""
say "results: $results"
