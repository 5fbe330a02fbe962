#!/bin/bash
# bench/cache-bench.sh — what does a cache node (dofs cache-server) save, and cost?
#
# In one run, on loopback (one nginx origin, one `dofs cache-server` allowed to fetch from it):
#   (a) a fresh dofs mount reads the file cold straight from the CDN       — the reference
#   (b) a fresh mount reads it through the cache node, cache node empty     — miss path
#   (c) another fresh mount reads it through the cache node, now full       — hit path
# and prints each time as a ratio to (a), and the bytes the origin sent for each reader.
# Mounts run in download mode 99 (no peers), so every byte comes from the CDN or the cache node.
# Results go to stdout and bench/results/cache-<date>.txt. The release binary is used.
#
# usage: bench/cache-bench.sh [--size SIZE] [--dir DIR] [--keep]
# Environment: DOFS_BIN (use this binary, skip the build), DOFS_SCRATCH_PATH.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
source "$HERE/../scripts/lib.sh"

size_arg=256M work="" keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --size) size_arg="${2:?--size needs a value}"; shift 2 ;;
        --dir)  work="${2:?--dir needs a directory}"; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) usage_from_header "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
size="$(numfmt --from=iec "${size_arg%B}")" || die "cannot read --size '$size_arg'"
bench_workdir dofs-cache-bench
file=cache.bin access="$work/nginx/logs/access.log"

NGINX_PID="" NODE_PID="" MNT="" MNT_PID=""
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$MNT" ] && dofs_unmount "$MNT" "$MNT_PID" || true
    stop_child "$NODE_PID" cache-server
    [ -n "$NGINX_PID" ] && nginx_stop "$NGINX_PID" || true
    if [ "$keep" = 1 ]; then note "kept $work"; elif [ "$made_work" = 1 ]; then rm -rf "$work"; fi
    [ "$rc" = 0 ] || log "benchmark FAILED (exit $rc)"
    exit "$rc"
}
trap_cleanup cleanup

ensure_system_packages "${DOFS_SYSTEM_PACKAGES[@]}"
check_fuse || die "FUSE is not usable on this machine"
build_dofs release

bench_origin "$work" "$file" "$size" dofs-cache-bench
entry="$(publish_entry "$DOFS_BIN" "$work/origin/$file" "$url" "$work/origin/$file.phf" "$url.phf" "$file")"
write_catalog "$work/catalog.json" "$entry"

node_port="$(free_port)"
"$DOFS_BIN" cache-server --listen "127.0.0.1:$node_port" --cache-dir "$work/node" \
    --allow-origin "127.0.0.1:$port" >"$work/node.log" 2>&1 </dev/null &
NODE_PID=$!
wait_http "http://127.0.0.1:$node_port/health" "$work/node.log"

# read_cold NAME EXTRA... — a fresh mount with an empty cache reads the file; prints "SECONDS ORIGIN_BYTES".
read_cold() {
    local name="$1"; shift
    local lines0 t0 secs
    rm -rf "$work/c-$name"
    dofs_mount_bg "$DOFS_BIN" "$work/m-$name" "$work/c-$name" "$work/m-$name.log" --catalog "$work/catalog.json" \
        --download-mode 99 "$@"
    MNT="$work/m-$name" MNT_PID="$DOFS_PID"
    lines0="$(log_lines "$access")"
    t0="$(now)"
    dd if="$MNT/$file" of=/dev/null bs=1M status=none || die "read through $name failed"
    secs="$(elapsed "$t0")"
    cmp -s "$MNT/$file" "$work/origin/$file" || die "$name read wrong bytes"
    dofs_unmount "$MNT" "$MNT_PID"
    MNT="" MNT_PID=""
    printf '%s %s\n' "$secs" "$(origin_bytes "$access" "$lines0")"
}

log "(a) direct from the CDN"
read -r direct_s direct_origin < <(read_cold direct)
log "(b) through the cache node, empty"
read -r miss_s miss_origin < <(read_cold miss --cache-host "127.0.0.1:$node_port")
log "(c) through the cache node, full"
read -r hit_s hit_origin < <(read_cold hit --cache-host "127.0.0.1:$node_port")

results=(
    "$(printf 'direct from the CDN:        %6.2f s (%s MiB/s), origin bytes %.2fx size' "$direct_s" "$(mib_per_s "$size" "$direct_s")" "$(awk -v a="$direct_origin" -v s="$size" 'BEGIN { print a / s }')")"
    "$(printf 'cache node, empty (miss):   %6.2f s = %.2fx direct, origin bytes %.2fx size' "$miss_s" "$(awk -v a="$miss_s" -v b="$direct_s" 'BEGIN { print a / b }')" "$(awk -v a="$miss_origin" -v s="$size" 'BEGIN { print a / s }')")"
    "$(printf 'cache node, full (hit):     %6.2f s = %.2fx direct, origin bytes %.2fx size' "$hit_s" "$(awk -v a="$hit_s" -v b="$direct_s" 'BEGIN { print a / b }')" "$(awk -v a="$hit_origin" -v s="$size" 'BEGIN { print a / s }')")"
)
printf '%s\n' "${results[@]}"
mkdir -p "$HERE/results"
out="$HERE/results/cache-$(date -u +%Y%m%d-%H%M%S).txt"
{
    echo "dofs cache-node benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(human_bytes "$size"), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
    printf '%s\n' "${results[@]}"
} >"$out"
log "results in $out"
