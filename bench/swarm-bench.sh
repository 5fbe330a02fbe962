#!/bin/bash
# bench/swarm-bench.sh — what does a fleet reading the same content cost the origin?
#
# The origin sits behind a rate-limited link, as a branch office sees the internet: an htb class
# on `lo` limits what the origin's port sends to --rate (200mbit by default); no default class, so
# every other flow on loopback (peers, control plane) is not limited. In one run, on loopback (each
# mount its own 127.0.0.x address, cache and peer port, one nginx origin, one `dofs control-plane`):
#   (a) one dofs mount alone reads the file cold                      — the reference time
#   (b) N plain `curl -o /dev/null` of the file at the same time      — what a fleet costs without dofs
#   (c) N fresh dofs mounts read the file cold at the same time, for each N given
#   (d) the first N again, with one withholding member (announces every piece, sends none) and one
#       empty member (holds nothing) in the swarm (bench/fake-member.py)
# and prints, per run: origin bytes / content size (target <= 1.05), slowest reader / one reader
# alone (target <= 1.2; <= 1.5 with the bad members), peak resident memory per mount, and the same
# figures for curl; and for (c) and (d) where the time went: CPU seconds (user + system) per mount and
# their sum against the cores x the wall time, the machine's busy share (other builds count), when each
# reader ended, and when the origin link sent its last byte and how long it sat idle before that.
# Results go to stdout and bench/results/swarm-<date>.txt. The release binary is used. With --keep, the
# work folder also holds each mount's log and `dofs status --json` (its scored source table).
#
# usage: bench/swarm-bench.sh [--size SIZE] [--mounts "4 8"] [--rate RATE] [--dir DIR] [--keep]
#                             [--log-level LEVEL] [--skip-bad] [--skip-curl]
# (--log-level is given to every mount: debug says why each piece came from the CDN; --skip-bad skips (d),
# --skip-curl skips (b), for quick runs while working on the swarm.)
# Environment: DOFS_BIN (use this binary, skip the build), DOFS_SCRATCH_PATH.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
source "$HERE/../scripts/lib.sh"

size_arg=128M counts="4 8" work="" keep=0 rate=200mbit log_level=info skip_bad=0 skip_curl=0
while [ $# -gt 0 ]; do
    case "$1" in
        --size)   size_arg="${2:?--size needs a value}"; shift 2 ;;
        --mounts) counts="${2:?--mounts needs a list}"; shift 2 ;;
        --dir)    work="${2:?--dir needs a directory}"; shift 2 ;;
        --rate)   rate="${2:?--rate needs a tc rate such as 200mbit}"; shift 2 ;;
        --keep)   keep=1; shift ;;
        --log-level) log_level="${2:?--log-level needs a level}"; shift 2 ;;
        --skip-bad) skip_bad=1; shift ;;
        --skip-curl) skip_curl=1; shift ;;
        -h|--help) usage_from_header "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
size="$(numfmt --from=iec "${size_arg%B}")" || die "cannot read --size '$size_arg'"
for n in $counts; do [[ "$n" =~ ^[1-9][0-9]?$ ]] && [ "$n" -le 50 ] || die "--mounts takes numbers from 1 to 50"; done

bench_workdir dofs-swarm-bench
file=swarm.bin
access="$work/nginx/logs/access.log"

# ---- cleanup: every mount unmounted, every server stopped by its PID, also on failure.
NGINX_PID="" CP_PID="" SHAPED=0
MOUNTS=() PIDS=() FAKES=()
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    for i in "${!MOUNTS[@]}"; do dofs_unmount "${MOUNTS[$i]}" "${PIDS[$i]:-}" || true; done
    for i in "${FAKES[@]}"; do stop_child "$i" fake-member; done
    [ "$SHAPED" = 1 ] && { tc qdisc del dev lo root 2>/dev/null || warn "could not remove the htb qdisc on lo"; }
    stop_child "$CP_PID" control-plane
    [ -n "$NGINX_PID" ] && nginx_stop "$NGINX_PID" || true
    if [ "$keep" = 1 ]; then note "kept $work"; elif [ "$made_work" = 1 ]; then rm -rf "$work"; fi
    [ "$rc" = 0 ] || log "benchmark FAILED (exit $rc)"
    exit "$rc"
}
trap_cleanup cleanup

ensure_system_packages "${DOFS_SYSTEM_PACKAGES[@]}"
check_fuse || die "FUSE is not usable on this machine"
build_dofs release

bench_origin "$work" "$file" "$size" dofs-swarm-bench
origin_port="${url#http://127.0.0.1:}"
origin_port="${origin_port%%/*}"

# ---- the branch office's link: what the origin's port sends is limited to $rate; nothing else is.
command -v tc >/dev/null || die "tc (iproute2) is needed to limit the origin's link"
if tc qdisc show dev lo | grep ' root ' | grep -qv noqueue; then
    die "lo already has a root qdisc ($(tc qdisc show dev lo | head -1)); another benchmark runs? remove it first"
fi
tc qdisc add dev lo root handle 1: htb || die "cannot add an htb qdisc on lo (sch_htb missing?)"
SHAPED=1
tc class add dev lo parent 1: classid 1:10 htb rate "$rate" ceil "$rate" burst 256k cburst 256k
tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip sport "$origin_port" 0xffff flowid 1:10
log "origin link: $rate (htb on lo, source port $origin_port)"
rate_bps="$(numfmt --from=si "$(tr '[:lower:]' '[:upper:]' <<<"${rate%bit}")" 2>/dev/null)" || rate_bps=0

cp_port="$(free_port)"
"$DOFS_BIN" keygen --out "$work/keys" >/dev/null || die "dofs keygen failed"
"$DOFS_BIN" control-plane --listen "127.0.0.1:$cp_port" --data "$work/cp" --reannounce-secs 2 \
    --publisher-key "$work/keys/publisher.pub" --log-file "$work/cp.log" >/dev/null 2>&1 </dev/null &
CP_PID=$!
wait_http "http://127.0.0.1:$cp_port/geo" "$work/cp.log"
"$DOFS_BIN" publish "$work/origin/$file" --url "$url" --phf-out "$work/origin/$file.phf" \
    --control-plane "http://127.0.0.1:$cp_port" --key "$work/keys/publisher.key" >"$work/published.json" || die "dofs publish failed"
field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/published.json" "$1"; }
content_id="$(field ContentId)" hoh="$(field HashOfHashes)" piece_size="$(field PieceSize)"
name="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$url")"

# mount_n I EXTRA... — a fresh mount number I on 127.0.0.(10+I+addr_offset); appends to MOUNTS/PIDS.
# Each fleet run (c) gets addresses of its own (addr_offset 40, 80, ...): a mount started at the address
# of one just stopped is listed beside that one's unexpired listing under another peer id, and peers
# reach it only after the next re-join (measured: eight mounts on the addresses of four just stopped
# cost the origin 1.24-1.31 copies instead of 1.00-1.05). That is a fleet restarting, not a fresh one.
addr_offset=0 fleet_runs=0
mount_n() {
    local i="$1"; shift
    local ip="127.0.0.$((10 + i + addr_offset))" m="$work/m$i"
    rm -rf "$work/c$i"
    dofs_mount_bg "$DOFS_BIN" "$m" "$work/c$i" "$work/m$i.log" --control-plane "http://127.0.0.1:$cp_port" \
        --peer-listen "$ip:7680" --log-level "$log_level" "$@"
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
# Each reader's end (seconds after the start) goes to $work/ends, one a line, in order.
timed_parallel() {
    local t0 pids=() cmd k=0
    t0="$(now)"
    rm -f "$work"/end.*
    for cmd in "$@"; do bash -c "$cmd && echo \"\${EPOCHREALTIME/,/.}\" >'$work/end.$k'" & pids+=($!); k=$((k + 1)); done
    for p in "${pids[@]}"; do wait "$p" || die "a reader failed: see the logs in $work"; done
    for k in $(seq 0 $(($# - 1))); do awk -v a="$t0" '{ printf "%.2f\n", $1 - a }' "$work/end.$k"; done >"$work/ends"
    elapsed "$t0"
}

# ---- where the time goes: CPU seconds per mount, the machine's CPU, the origin link over time.
clk_tck="$(getconf CLK_TCK)"
# cpu_ticks PID — user + system clock ticks of PID so far (0 once it is gone).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# machine_ticks — busy and total clock ticks of every CPU (from /proc/stat).
machine_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }
# link_sent — bytes the origin's htb class has sent so far.
link_sent() { tc -s class show dev lo classid 1:10 | awk '/Sent/ { print $2; exit }'; }
# sample_link FILE — every 100 ms, "seconds bytes-sent" of the origin's class into FILE, until killed.
# Bounded: stops by itself after 10 minutes.
sample_link() {
    local file="$1" t0 i
    t0="$(now)"
    for i in $(seq 1 6000); do
        printf '%s %s\n' "$(elapsed "$t0")" "$(link_sent)" >>"$file"
        sleep 0.1
    done
}
CPU0=() MACHINE0="" SAMPLER_PID=""
# measure_start PID... — before the readers start: the mounts' CPU ticks, the machine's, the link sampler.
measure_start() {
    local pid
    CPU0=()
    for pid in "$@"; do CPU0+=("$(cpu_ticks "$pid")"); done
    MACHINE0="$(machine_ticks)"
    rm -f "$work/link.txt"
    sample_link "$work/link.txt" &
    SAMPLER_PID=$!
}
# measure_report WALL PID... — after the readers: one line with CPU seconds per mount, their sum against
# the cores x WALL, the machine's busy share, each reader's end, and when the origin link sent its last
# byte and how long it sat idle (a sample under a tenth of the rate) before that. The samples are kept
# in $work/link-N<mounts>-<time>.txt.
measure_report() {
    local wall="$1" i=0 pid cpu=() sum=0 m1 busy
    shift
    kill "$SAMPLER_PID" 2>/dev/null; wait "$SAMPLER_PID" 2>/dev/null || true
    cp "$work/link.txt" "$work/link-N$#-$(date +%H%M%S).txt"
    for pid in "$@"; do
        cpu+=("$(awk -v a="${CPU0[$i]}" -v b="$(cpu_ticks "$pid")" -v t="$clk_tck" 'BEGIN { printf "%.1f", (b - a) / t }')")
        i=$((i + 1))
    done
    sum="$(printf '%s\n' "${cpu[@]}" | awk '{ s += $1 } END { printf "%.1f", s }')"
    m1="$(machine_ticks)"
    busy="$(awk -v a="$MACHINE0" -v b="$m1" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.0f", 100 * (y[1] - x[1]) / (y[2] - x[2]) }')"
    local link
    link="$(awk -v rate="$rate_bps" 'NR > 1 { d = $2 - pb; if (d > 0) { last = $1; idle += pending; pending = 0 }
            if (d < rate / 8 * ($1 - pt) / 10) pending += $1 - pt } { pt = $1; pb = $2 }
            END { printf "origin link: last byte at %.2f s, idle %.2f s before it", last, idle }' "$work/link.txt")"
    printf 'CPU s per mount: %s; sum %s s = %.0f%% of %d cores x %.2f s; machine busy %s%%; readers ended at (s): %s; %s' \
        "${cpu[*]}" "$sum" "$(awk -v s="$sum" -v w="$wall" -v n="$(nproc)" 'BEGIN { print 100 * s / (n * w) }')" "$(nproc)" "$wall" \
        "$busy" "$(tr '\n' ' ' <"$work/ends" | sed 's/ $//')" "$link"
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
    if [ "$skip_curl" = 0 ]; then
    log "(b) $n x curl at once"
    lines0="$(log_lines "$access")"
    cmds=()
    for _ in $(seq 1 "$n"); do cmds+=("curl -fsS -o /dev/null '$url'"); done
    curl_s="$(timed_parallel "${cmds[@]}")"
    curl_origin="$(origin_bytes "$access" "$lines0")"
    fi

    # ---- (c) N fresh mounts at once
    log "(c) $n dofs mounts at once, cold"
    fleet_runs=$((fleet_runs + 1)) addr_offset=$((40 * fleet_runs))
    for i in $(seq 1 "$n"); do mount_n "$i"; done
    addr_offset=0
    lines0="$(log_lines "$access")"
    cmds=()
    for i in $(seq 1 "$n"); do cmds+=("dd if='$work/m$i/by-url/$name' of=/dev/null bs=1M status=none"); done
    measure_start "${PIDS[@]}"
    swarm_s="$(timed_parallel "${cmds[@]}")"
    swarm_origin="$(origin_bytes "$access" "$lines0")"
    swarm_where="$(measure_report "$swarm_s" "${PIDS[@]}")"
    mem=()
    peer_total=0
    for i in $(seq 1 "$n"); do
        cmp -s "$work/m$i/by-url/$name" "$work/origin/$file" || die "mount $i read wrong bytes"
        mem+=("$(hwm_mib "${PIDS[$((i - 1))]}")")
        peer="$(getfattr --only-values -n user.dofs.sources "$work/m$i/by-url/$name" | python3 -c 'import json,sys; print(json.load(sys.stdin)["peer"])')"
        peer_total=$((peer_total + peer))
    done
    for i in $(seq 1 "$n"); do
        "$DOFS_BIN" status --socket "$work/c$i/node.sock" --json >"$work/status-N$n-m$i.json" 2>/dev/null || true
    done
    unmount_all
    report "$(printf 'N=%d dofs: origin %.2fx size (target <= 1.05), slowest %.2f s = %.2fx one alone (target <= 1.2), peer bytes %.2fx size, peak RSS per mount MiB: %s' \
        "$n" "$(awk -v a="$swarm_origin" -v s="$size" 'BEGIN { print a / s }')" "$swarm_s" \
        "$(awk -v a="$swarm_s" -v b="$alone_s" 'BEGIN { print a / b }')" \
        "$(awk -v a="$peer_total" -v s="$size" 'BEGIN { print a / s }')" "${mem[*]}")"
    report "  N=$n dofs, where the time went: $swarm_where"
    [ "$skip_curl" = 1 ] || report "$(printf 'N=%d curl: origin %.2fx size, slowest %.2f s = %.2fx one dofs mount alone' \
        "$n" "$(awk -v a="$curl_origin" -v s="$size" 'BEGIN { print a / s }')" "$curl_s" \
        "$(awk -v a="$curl_s" -v b="$alone_s" 'BEGIN { print a / b }')")"
done

# ---- (d) the first N again, with one withholding and one empty member in the swarm
set -- $counts
n="$1"
if [ "$skip_bad" = 0 ]; then
log "(d) $n dofs mounts at once, cold, with a withholding and an empty member"
pieces=$(( (size + piece_size - 1) / piece_size ))
for conduct in withholds empty; do
    ip="127.0.0.$([ "$conduct" = withholds ] && echo 200 || echo 201)"
    python3 "$HERE/fake-member.py" --control-plane "http://127.0.0.1:$cp_port" --content-id "$content_id" \
        --swarm-hash "$hoh" --pieces "$pieces" --listen "$ip" --conduct "$conduct" 2>>"$work/fake-$conduct.log" &
    FAKES+=($!)
done
sleep 1
for i in $(seq 1 "$n"); do mount_n "$((20 + i))"; done
lines0="$(log_lines "$access")"
cmds=()
for i in $(seq 1 "$n"); do cmds+=("dd if='$work/m$((20 + i))/by-url/$name' of=/dev/null bs=1M status=none"); done
measure_start "${PIDS[@]}"
bad_s="$(timed_parallel "${cmds[@]}")"
bad_origin="$(origin_bytes "$access" "$lines0")"
bad_where="$(measure_report "$bad_s" "${PIDS[@]}")"
for i in $(seq 1 "$n"); do
    cmp -s "$work/m$((20 + i))/by-url/$name" "$work/origin/$file" || die "mount $((20 + i)) read wrong bytes"
done
unmount_all
report "$(printf 'N=%d dofs with a withholding and an empty member: origin %.2fx size, slowest %.2f s = %.2fx one alone (target <= 1.5)' \
    "$n" "$(awk -v a="$bad_origin" -v s="$size" 'BEGIN { print a / s }')" "$bad_s" "$(awk -v a="$bad_s" -v b="$alone_s" 'BEGIN { print a / b }')")"
report "  N=$n dofs with the bad members, where the time went: $bad_where"
fi

mkdir -p "$HERE/results"
out="$HERE/results/swarm-$(date -u +%Y%m%d-%H%M%S).txt"
{
    echo "dofs swarm benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(human_bytes "$size"), origin link $rate, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
    printf '%s\n' "${results[@]}"
} >"$out"
log "results in $out"
