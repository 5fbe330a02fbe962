#!/bin/bash
# bench/swarm-bench.sh — what does a fleet reading the same content cost the origin?
#
# In one run, on loopback (each mount its own 127.0.0.x address, cache and peer port,
# one nginx origin, one `dofs control-plane`):
#   (a) one dofs mount alone reads the file cold                      — the reference time
#   (b) N plain `curl -o /dev/null` of the file at the same time      — what a fleet costs without dofs
#   (c) N fresh dofs mounts read the file cold at the same time, for each N given
# and prints, per N: origin bytes / content size (target <= 1.1), slowest reader / one reader
# alone (target <= 1.5), peak resident memory per mount, and the same figures for curl.
# Results go to stdout and bench/results/swarm-<date>.txt. The release binary is used.
#
# usage: bench/swarm-bench.sh [--size SIZE] [--mounts "4 8"] [--dir DIR] [--keep]
# Environment: DOFS_BIN (use this binary, skip the build), DOFS_SCRATCH_PATH.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
source "$HERE/../scripts/lib.sh"

size_arg=256M counts="4 8" work="" keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --size)   size_arg="${2:?--size needs a value}"; shift 2 ;;
        --mounts) counts="${2:?--mounts needs a list}"; shift 2 ;;
        --dir)    work="${2:?--dir needs a directory}"; shift 2 ;;
        --keep)   keep=1; shift ;;
        -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
size="$(numfmt --from=iec "${size_arg%B}")" || die "cannot read --size '$size_arg'"
for n in $counts; do [[ "$n" =~ ^[1-9][0-9]?$ ]] && [ "$n" -le 50 ] || die "--mounts takes numbers from 1 to 50"; done

made_work=0
if [ -z "$work" ]; then work="$(mktemp -d /tmp/dofs-swarm-bench.XXXXXX)"; made_work=1; else mkdir -p "$work"; fi
file=swarm.bin
access="$work/nginx/logs/access.log"

# ---- cleanup: every mount unmounted, every server stopped by its PID, also on failure.
NGINX_PID="" CP_PID=""
MOUNTS=() PIDS=()
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    for i in "${!MOUNTS[@]}"; do dofs_unmount "${MOUNTS[$i]}" "${PIDS[$i]:-}" || true; done
    stop_child "$CP_PID" control-plane
    [ -n "$NGINX_PID" ] && nginx_stop "$NGINX_PID" || true
    if [ "$keep" = 1 ]; then note "kept $work"; elif [ "$made_work" = 1 ]; then rm -rf "$work"; fi
    [ "$rc" = 0 ] || log "benchmark FAILED (exit $rc)"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_system_packages "${DOFS_SYSTEM_PACKAGES[@]}"
check_fuse || die "FUSE is not usable on this machine"
build_dofs release

bench_origin "$work" "$file" "$size" dofs-swarm-bench

cp_port="$(free_port)"
"$DOFS_BIN" keygen --out "$work/keys" >/dev/null || die "dofs keygen failed"
"$DOFS_BIN" control-plane --listen "127.0.0.1:$cp_port" --data "$work/cp" --reannounce-secs 2 \
    --publisher-key "$work/keys/publisher.pub" --log-file "$work/cp.log" >/dev/null 2>&1 </dev/null &
CP_PID=$!
wait_http "http://127.0.0.1:$cp_port/geo" "$work/cp.log"
"$DOFS_BIN" publish "$work/origin/$file" --url "$url" --phf-out "$work/origin/$file.phf" \
    --control-plane "http://127.0.0.1:$cp_port" --key "$work/keys/publisher.key" >/dev/null || die "dofs publish failed"
name="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$url")"

# mount_n I EXTRA... — a fresh mount number I on 127.0.0.(10+I); appends to MOUNTS/PIDS.
mount_n() {
    local i="$1"; shift
    local ip="127.0.0.$((10 + i))" m="$work/m$i"
    rm -rf "$work/c$i"
    dofs_mount_bg "$DOFS_BIN" "$m" "$work/c$i" "$work/m$i.log" --control-plane "http://127.0.0.1:$cp_port" \
        --peer-listen "$ip:7680" "$@"
    MOUNTS+=("$m")
    PIDS+=("$DOFS_PID")
}
unmount_all() {
    local i
    for i in "${!MOUNTS[@]}"; do dofs_unmount "${MOUNTS[$i]}" "${PIDS[$i]:-}"; done
    MOUNTS=() PIDS=()
}
hwm_mib() { awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"; }

# timed_parallel CMD... (one per reader, as strings) — runs them at once, prints the slowest time.
timed_parallel() {
    local t0 pids=() cmd
    t0="$(now)"
    for cmd in "$@"; do bash -c "$cmd" & pids+=($!); done
    for p in "${pids[@]}"; do wait "$p" || die "a reader failed: see the logs in $work"; done
    elapsed "$t0"
}

results=()
report() { printf '%s\n' "$*"; results+=("$*"); }

# ---- (a) one mount alone
log "(a) one dofs mount alone, cold"
lines0="$(log_lines "$access")"
mount_n 0
alone_s="$(timed_parallel "dd if='$work/m0/by-url/$name' of=/dev/null bs=1M status=none")"
cmp -s "$work/m0/by-url/$name" "$work/origin/$file" || die "mount 0 read wrong bytes"
alone_origin="$(origin_bytes "$access" "$lines0")"
unmount_all
report "$(printf 'one mount alone: %.2f s (%s MiB/s), origin bytes %s (%.2fx size)' "$alone_s" \
    "$(mib_per_s "$size" "$alone_s")" "$alone_origin" "$(awk -v a="$alone_origin" -v s="$size" 'BEGIN { print a / s }')")"

for n in $counts; do
    # ---- (b) N plain curls
    log "(b) $n x curl at once"
    lines0="$(log_lines "$access")"
    cmds=()
    for _ in $(seq 1 "$n"); do cmds+=("curl -fsS -o /dev/null '$url'"); done
    curl_s="$(timed_parallel "${cmds[@]}")"
    curl_origin="$(origin_bytes "$access" "$lines0")"

    # ---- (c) N fresh mounts at once
    log "(c) $n dofs mounts at once, cold"
    for i in $(seq 1 "$n"); do mount_n "$i"; done
    lines0="$(log_lines "$access")"
    cmds=()
    for i in $(seq 1 "$n"); do cmds+=("dd if='$work/m$i/by-url/$name' of=/dev/null bs=1M status=none"); done
    swarm_s="$(timed_parallel "${cmds[@]}")"
    swarm_origin="$(origin_bytes "$access" "$lines0")"
    mem=()
    peer_total=0
    for i in $(seq 1 "$n"); do
        cmp -s "$work/m$i/by-url/$name" "$work/origin/$file" || die "mount $i read wrong bytes"
        mem+=("$(hwm_mib "${PIDS[$((i - 1))]}")")
        peer="$(getfattr --only-values -n user.dofs.sources "$work/m$i/by-url/$name" | python3 -c 'import json,sys; print(json.load(sys.stdin)["peer"])')"
        peer_total=$((peer_total + peer))
    done
    unmount_all
    report "$(printf 'N=%d dofs: origin %.2fx size (target <= 1.1), slowest %.2f s = %.2fx one alone (target <= 1.5), peer bytes %.2fx size, peak RSS per mount MiB: %s' \
        "$n" "$(awk -v a="$swarm_origin" -v s="$size" 'BEGIN { print a / s }')" "$swarm_s" \
        "$(awk -v a="$swarm_s" -v b="$alone_s" 'BEGIN { print a / b }')" \
        "$(awk -v a="$peer_total" -v s="$size" 'BEGIN { print a / s }')" "${mem[*]}")"
    report "$(printf 'N=%d curl: origin %.2fx size, slowest %.2f s = %.2fx one dofs mount alone' \
        "$n" "$(awk -v a="$curl_origin" -v s="$size" 'BEGIN { print a / s }')" "$curl_s" \
        "$(awk -v a="$curl_s" -v b="$alone_s" 'BEGIN { print a / b }')")"
done

mkdir -p "$HERE/results"
out="$HERE/results/swarm-$(date -u +%Y%m%d-%H%M%S).txt"
{
    echo "dofs swarm benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(human_bytes "$size"), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
    printf '%s\n' "${results[@]}"
} >"$out"
log "results in $out"
