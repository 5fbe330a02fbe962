#!/bin/bash
# bench/fleet-bench.sh — how much does one control plane serve, how much do two on one PostgreSQL
# serve, and what does a swarm of 100 headless peers cost one rate-limited origin?
#
# 1. Load (wrk, side by side in one run): POST /array/ID/join/ and GET /content/ID/contentpolicy of
#    (a) one instance on SQLite + memory (the embedded default),
#    (b) one instance on PostgreSQL, (c) two instances on one PostgreSQL (one wrk each, summed).
#    Joins come from a fleet of 20,000 peers over 1,000 contents, each with its own address
#    (X-Real-IP from the trusted proxy 127.0.0.1), so per-address limits apply as in production.
#    Prints requests/s and p99 latency per endpoint and setup. Target: >= 5,000 joins/s, p99 < 50 ms.
# 2. Swarm: one origin (nginx) limited to --rate Mbit/s with tc (htb on lo, u32 filter on the
#    origin's port, no default class: nothing else is shaped); peers x 128 MiB of memory touched once
#    (this VM's first touch of a page is slow); one `dofs get` alone (the reference),
#    then --peers `dofs get` peers at once on 127.0.0.20.. (each its own cache, seeding while the run
#    lasts), then the same with 10% of them SIGKILLed midway. Prints origin bytes / size (target
#    <= 1.1), completion p50 / p90 / max against the lone reader, and the peers' CPU-seconds each
#    (utime + stime until the last one finished, serving the others included; bench/fleet/swarm.py).
#    With --compare OLD_BIN, every load setup runs twice in a row, with OLD_BIN's control plane
#    ("setup/old") and then DOFS_BIN's ("setup/new"), so two builds are compared under the same load.
# Results go to stdout and bench/results/fleet-<date>.txt.
#
# usage: bench/fleet-bench.sh [--duration S] [--connections N] [--peers N] [--size SIZE] [--rate MBIT]
#                             [--http-delay S] [--stagger S] [--skip-load] [--skip-swarm] [--dir DIR] [--keep]
#                             [--peer-log-level LEVEL] [--separate-services] [--compare OLD_BIN]
#                             [--setups LIST]
# (--http-delay is given to every peer: how long a non-owner waits for a peer before the CDN; --stagger
# launches the peers evenly over S seconds instead of at once; completion times count from each launch;
# --peer-log-level is every peer's --log-level: with debug and --keep, each peer's stderr says why each
# piece came from the CDN; --separate-services runs the control plane and the origin in a CPU cgroup of
# their own, weighted like all the peers together, as they would run on machines of their own: without
# it, 100 peers and the control plane share two cores and the control plane gets about 1/101 of them.)
# --setups picks the load setups (comma-separated, of sqlite-1,postgres-1,postgres-2; all by default).
# Environment: DOFS_BIN (use this binary, skip the release build), DOFS_SCRATCH_PATH.
# Needs root (tc), wrk and PostgreSQL (Debian packages wrk, postgresql, iproute2).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
source "$HERE/../scripts/lib.sh"

duration=15 connections=64 peers=100 size_arg=32M rate=200 http_delay="" stagger=0 do_load=1 do_swarm=1 work="" keep=0 peer_log_level=warning separate=0
compare="" setups="sqlite-1,postgres-1,postgres-2"
while [ $# -gt 0 ]; do
    case "$1" in
        --duration)    duration="${2:?}"; shift 2 ;;
        --connections) connections="${2:?}"; shift 2 ;;
        --peers)       peers="${2:?}"; shift 2 ;;
        --size)        size_arg="${2:?}"; shift 2 ;;
        --rate)        rate="${2:?}"; shift 2 ;;
        --http-delay)  http_delay="${2:?}"; shift 2 ;;
        --stagger)     stagger="${2:?}"; shift 2 ;;
        --skip-load)   do_load=0; shift ;;
        --skip-swarm)  do_swarm=0; shift ;;
        --dir)         work="${2:?}"; shift 2 ;;
        --keep)        keep=1; shift ;;
        --peer-log-level) peer_log_level="${2:?}"; shift 2 ;;
        --separate-services) separate=1; shift ;;
        --compare)     compare="${2:?}"; shift 2 ;;
        --setups)      setups="${2:?}"; shift 2 ;;
        -h|--help) usage_from_header "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
size="$(numfmt --from=iec "${size_arg%B}")" || die "cannot read --size '$size_arg'"
[[ "$peers" =~ ^[1-9][0-9]*$ ]] && [ "$peers" -le 200 ] || die "--peers takes 1 to 200"
[ "$(id -u)" -eq 0 ] || die "needs root (tc on lo, the PostgreSQL user)"
command -v wrk >/dev/null || die "wrk not found (package wrk)"
[ -z "$compare" ] || [ -x "$compare" ] || die "--compare: $compare is not an executable"
[[ ",$setups," =~ ^(,(sqlite-1|postgres-1|postgres-2))+,$ ]] || die "--setups takes sqlite-1, postgres-1, postgres-2 (comma-separated)"

bench_workdir dofs-fleet-bench
chmod 755 "$work"  # PostgreSQL runs as the postgres user and must reach $work/pg
results_dir="$HERE/results"
mkdir -p "$results_dir"
results="$results_dir/fleet-$(date -u +%Y%m%d-%H%M%S).txt"

CP_PIDS=() NGINX_PID="" SHAPED=0 PG_DIR="" SERVICES_CG="" PEERS_CG=""
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in "${CP_PIDS[@]}"; do stop_child "$p" control-plane; done
    [ -n "$NGINX_PID" ] && nginx_stop "$NGINX_PID" || true
    [ "$SHAPED" = 1 ] && tc qdisc del dev lo root 2>/dev/null || true
    [ -n "$PG_DIR" ] && postgres_stop "$PG_DIR"
    leave_cgroups
    if [ "$keep" = 1 ]; then note "kept $work"; elif [ "$made_work" = 1 ]; then rm -rf "$work"; fi
    [ "$rc" = 0 ] || log "benchmark FAILED (exit $rc)"
    exit "$rc"
}
trap_cleanup cleanup

say() { printf '%s\n' "$*" | tee -a "$results"; }

# --separate-services: two CPU cgroups (v1 `cpu`, equal shares): one for the control plane and the
# origin, one for this script and everything it starts after (the peers). Machines of their own would
# give the services their own CPU; equal shares give them half of two cores when they need it.
CPU_CGROUPS=/sys/fs/cgroup/cpu
enter_cgroups() {
    [ -w "$CPU_CGROUPS/cgroup.procs" ] || die "--separate-services needs a writable cgroup v1 cpu hierarchy at $CPU_CGROUPS"
    SERVICES_CG="$CPU_CGROUPS/dofs-fleet-services-$$" PEERS_CG="$CPU_CGROUPS/dofs-fleet-peers-$$"
    mkdir "$SERVICES_CG" "$PEERS_CG"
    echo $$ >"$PEERS_CG/cgroup.procs"
}
# to_services PID... — moves processes (nginx's workers with their master) into the services' cgroup.
to_services() {
    local pid child
    [ -n "$SERVICES_CG" ] || return 0
    for pid in "$@"; do
        echo "$pid" >"$SERVICES_CG/cgroup.procs"
        for child in $(cat "/proc/$pid/task/"*/children 2>/dev/null); do echo "$child" >"$SERVICES_CG/cgroup.procs"; done
    done
}
# leave_cgroups — back to the root group, then the two groups are removed once their processes are gone.
# shellcheck disable=SC2317  # called from cleanup
leave_cgroups() {
    local cg pid
    [ -n "$PEERS_CG" ] || return 0
    for cg in "$PEERS_CG" "$SERVICES_CG"; do
        for pid in $(cat "$cg/cgroup.procs" 2>/dev/null); do echo "$pid" >"$CPU_CGROUPS/cgroup.procs" 2>/dev/null || true; done
        rmdir "$cg" 2>/dev/null || warn "could not remove $cg"
    done
}

build_dofs release
"$DOFS_BIN" keygen --out "$work/keys" >/dev/null

# start_cp NAME PORT STORE_ARGS... — a control plane ($CP_BIN) on 127.0.0.1:PORT trusting 127.0.0.1 as proxy.
start_cp() {
    local name="$1" port="$2"; shift 2
    "${CP_BIN:-$DOFS_BIN}" control-plane --listen "127.0.0.1:$port" --trusted-proxy 127.0.0.1 \
        --publisher-key "$work/keys/publisher.pub" --log-level warning "$@" >"$work/$name.log" 2>&1 &
    CP_PIDS+=("$!")
    to_services "$!"
    wait_http "http://127.0.0.1:$port/geo" "$work/$name.log"
}

stop_cps() {
    local p
    for p in "${CP_PIDS[@]}"; do stop_child "$p" control-plane; done
    CP_PIDS=()
}

# publish_to CP FILE URL — registers FILE (served at URL) with CP; prints its content ID.
publish_to() {
    "$DOFS_BIN" publish "$2" --url "$3" --phf-out "$2.phf" --control-plane "$1" --key "$work/keys/publisher.key" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["ContentId"])'
}

# wrk_run URL [LUA] — prints "REQ_PER_S P99_MS NON2XX REQUESTS" of one wrk run against URL.
wrk_run() {
    local url="$1" lua="${2:-}" conns="${3:-$connections}" threads="${4:-2}" out
    local args=(-t"$threads" -c"$conns" -d"${duration}s" --latency --timeout 5s)
    [ -n "$lua" ] && args+=(-s "$lua")
    out="$(wrk "${args[@]}" "$url")"
    printf '%s\n' "$out" >>"$work/wrk.log"
    python3 - "$out" <<'PY'
import re, sys
t = sys.argv[1]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)", t, re.M)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
n = re.search(r"(\d+) requests in", t).group(1)
print(f"{rps:.0f} {p99:.2f} {bad.group(1) if bad else 0} {n}")
PY
}

# cpu_ticks PID... — CPU time (user + system, clock ticks) the processes have used, all threads.
cpu_ticks() {
    local pid total=0
    for pid in "$@"; do
        total=$((total + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}

# postgres_ticks — CPU time of the whole PostgreSQL cluster: the postmaster, its live children
# (backends, writers) and, through the postmaster's cutime/cstime, the children that have exited.
postgres_ticks() {
    local pm children total
    pm="$(head -n 1 "$PG_DIR/data/postmaster.pid")"
    children="$(cat "/proc/$pm/task/"*/children 2>/dev/null || true)"
    # shellcheck disable=SC2086  # one PID per word
    total="$(cpu_ticks $children)"
    echo $((total + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$pm/stat")))
}

# batch_writes DB_URL — "CALLS PLAN_MS EXEC_MS" of the statements that wrote joins (they insert
# into swarm_member) in that database so far.
batch_writes() {
    psql "$1" -Atc "SELECT coalesce(sum(calls), 0) || ' ' || coalesce(sum(total_plan_time), 0)::int || ' ' || coalesce(sum(total_exec_time), 0)::int
                    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
                    WHERE d.datname = current_database() AND s.query LIKE '%INSERT INTO swarm_member%'"
}

# per_join TICKS JOINS — microseconds of CPU per join.
per_join() { awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", (n > 0 ? t * 1e6 / hz / n : 0) }'; }

# ---------------------------------------------------------------- 1. load
if [ "$do_load" = 1 ]; then
    log "starting PostgreSQL"
    # pg_stat_statements: how many batch writes (statements) the joins took, and their planning time.
    postgres_start "$work/pg" -c max_connections=200 -c shared_buffers=256MB \
        -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_planning=on
    PG_DIR="$work/pg"
    head -c 1048576 /dev/urandom >"$work/load.bin"
    say "== fleet-bench load: wrk ${duration}s, $connections connections, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
    [ -n "$compare" ] && say "   old: $compare ($(sha256sum <"$compare" | cut -c1-12)), new: $DOFS_BIN ($(sha256sum <"$DOFS_BIN" | cut -c1-12))"
    say "$(printf '%-28s %-12s %12s %10s %8s %14s %14s' setup endpoint 'requests/s' 'p99 ms' non-2xx 'instance us/rq' 'postgres us/rq')"
    say "(us/rq: CPU time, user + system from /proc, of the instances and of the whole PostgreSQL cluster over the"
    say " measured wrk run, divided by the requests answered; wrk's own CPU and the rest of the machine are not counted)"

    builds=(new)
    [ -n "$compare" ] && builds=(old new)
    for run in ${setups//,/ }; do
      for build in "${builds[@]}"; do
        setup="$run"
        CP_BIN="$DOFS_BIN"
        if [ -n "$compare" ]; then
            setup="$run/$build"
            [ "$build" = old ] && CP_BIN="$compare"
        fi
        ports=()
        # Each PostgreSQL setup and build on a database of its own: the old build may not understand a
        # newer schema, and the table statistics printed after the run are its own.
        db_url=""
        if [[ "$run" == postgres-* ]]; then
            db="dofs_${run//-/_}_$build"
            psql "$POSTGRES_URL" -qc "CREATE DATABASE $db"
            db_url="${POSTGRES_URL%/*}/$db"
            psql "$db_url" -qc "CREATE EXTENSION pg_stat_statements"
        fi
        case "$run" in
            sqlite-1)   ports=("$(free_port)"); start_cp cp-sqlite "${ports[0]}" --data "$work/sqlite-$build" ;;
            postgres-1) ports=("$(free_port)"); start_cp cp-pg1 "${ports[0]}" --database "$db_url" ;;
            postgres-2) ports=("$(free_port)" "$(free_port)")
                        start_cp cp-pg2a "${ports[0]}" --database "$db_url"
                        start_cp cp-pg2b "${ports[1]}" --database "$db_url" ;;
        esac
        id="$(publish_to "http://127.0.0.1:${ports[0]}" "$work/load.bin" "http://127.0.0.1:9/$run-$build/load.bin")"
        for endpoint in join policy; do
            if [ "$endpoint" = join ]; then lua="$HERE/fleet/join.lua"; path="/"; else lua=""; path="/content/$id/contentpolicy"; fi
            # A short warm-up (connections, the membership tables) not counted.
            duration_saved="$duration"; duration=3
            for p in "${ports[@]}"; do wrk_run "http://127.0.0.1:$p$path" "$lua" 16 1 >/dev/null; done
            duration="$duration_saved"
            cp_before="$(cpu_ticks "${CP_PIDS[@]}")"
            pg_before=0
            [[ "$run" == postgres-* ]] && pg_before="$(postgres_ticks)" && read -r calls0 plan0 exec0 < <(batch_writes "$db_url")
            if [ "${#ports[@]}" = 1 ]; then
                read -r r p99 bad n < <(wrk_run "http://127.0.0.1:${ports[0]}$path" "$lua")
            else
                # One wrk per instance, at the same time; requests/s summed, the worse p99 kept.
                half=$((connections / 2))
                wrk_run "http://127.0.0.1:${ports[0]}$path" "$lua" "$half" 1 >"$work/wrk-a.txt" &
                wa=$!
                wrk_run "http://127.0.0.1:${ports[1]}$path" "$lua" "$half" 1 >"$work/wrk-b.txt"
                wait "$wa"
                read -r ra pa ba na <"$work/wrk-a.txt"
                read -r rb pb bb nb <"$work/wrk-b.txt"
                r=$((ra + rb)); bad=$((ba + bb)); n=$((na + nb))
                p99="$(awk -v a="$pa" -v b="$pb" 'BEGIN { print (a > b ? a : b) }')"
            fi
            cp_us="$(per_join $(($(cpu_ticks "${CP_PIDS[@]}") - cp_before)) "$n")"
            pg_us=-
            [[ "$run" == postgres-* ]] && pg_us="$(per_join $(($(postgres_ticks) - pg_before)) "$n")"
            say "$(printf '%-28s %-12s %12s %10s %8s %14s %14s' "$setup" "$endpoint" "$r" "$p99" "$bad" "$cp_us" "$pg_us")"
            if [[ "$run" == postgres-* ]] && [ "$endpoint" = join ]; then
                read -r calls1 plan1 exec1 < <(batch_writes "$db_url")
                say "$(awk -v c=$((calls1 - calls0)) -v p=$((plan1 - plan0)) -v e=$((exec1 - exec0)) -v n="$n" 'BEGIN {
                    if (c > 0) printf "   (%d batch writes, %.1f joins each; per write: planning %.0f us, execution %.0f us)", c, n / c, p * 1000 / c, e * 1000 / c }')"
            fi
        done
        stop_cps
        if [ -n "$db_url" ]; then
            # Updates that wrote no index entry (HOT): a re-join rewrites its member and its binding, and
            # an update that must add an entry to every index of the table costs far more. Sequential
            # scans: only the sweep and the recount should make them.
            say "   ($setup: $(psql "$db_url" -Atc "SELECT count(*) FROM swarm_member") members; HOT updates / updates: $(psql "$db_url" -Atc \
                "SELECT string_agg(relname || ' ' || n_tup_hot_upd || '/' || n_tup_upd || ' (' || seq_scan || ' sequential scans)', ', ' ORDER BY relname)
                 FROM pg_stat_user_tables WHERE relname IN ('swarm_member', 'peer_binding')"))"
        fi
      done
    done
    postgres_stop "$PG_DIR"
    PG_DIR=""
fi

# ---------------------------------------------------------------- 2. swarm
if [ "$do_swarm" = 1 ]; then
    if [ -n "$(tc qdisc show dev lo | grep -v 'noqueue' || true)" ]; then
        die "lo already has a qdisc ($(tc qdisc show dev lo)); not touching it"
    fi
    [ "$separate" = 1 ] && enter_cgroups
    bench_origin "$work" swarm.bin "$size" fleet
    to_services "$NGINX_PID"
    origin_port="$port"
    access="$work/nginx/logs/access.log"
    tc qdisc add dev lo root handle 1: htb
    SHAPED=1
    tc class add dev lo parent 1: classid 1:10 htb rate "${rate}mbit" ceil "${rate}mbit" burst 256k cburst 256k quantum 60000
    tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip sport "$origin_port" 0xffff flowid 1:10
    say ""
    say "== fleet-bench swarm: $(human_bytes "$size"), origin limited to ${rate} Mbit/s (tc htb on lo, port $origin_port), $peers peers${http_delay:+, --http-delay $http_delay}, launched over ${stagger} s$([ "$separate" = 1 ] && echo ', control plane and origin in a CPU cgroup of their own'), $(date -u +%FT%TZ)"

    # run_swarm NAME PEERS [swarm.py options] — a fresh control plane (and caches) per run.
    run_swarm() {
        local name="$1" n="$2"; shift 2
        local cp_port; cp_port="$(free_port)"
        start_cp "cp-$name" "$cp_port" --data "$work/cp-$name" --reannounce-secs 10
        local id; id="$(publish_to "http://127.0.0.1:$cp_port" "$work/origin/swarm.bin" "$url")"
        local delay=()
        [ -n "$http_delay" ] && delay=(--http-delay "$http_delay")
        python3 "$HERE/fleet/swarm.py" "$DOFS_BIN" "http://127.0.0.1:$cp_port" "$id" "$work/run-$name" "$access" \
            --peers "$n" --stagger "$stagger" --log-level "$peer_log_level" "${delay[@]}" "$@" >"$work/$name.json"
        stop_cps
        [ "$keep" = 1 ] || rm -rf "$work/run-$name"
        cat "$work/$name.json"
    }
    # This VM's first touch of memory costs a host fault per page, and a swarm of 100 peers touches ~7 GiB
    # of its own (66-77 MiB private to each peer): the first swarm of a run paid for it and the next did
    # not (p50 30-36 s against 13-17 s, and 0.7-0.8 against 0.5 CPU-s per peer, for one build). Touched
    # once here, every swarm starts alike.
    say "==> touching $(( peers * 128 )) MiB of memory once, so that no swarm pays this VM's first touch"
    warm_memory $(( peers * 128 * 1024 * 1024 ))
    lone="$(run_swarm lone 1 --first-host 10 --seed-for 0)"
    lone_s="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["max"])' "$lone")"
    all="$(run_swarm all "$peers")"
    p50_all="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["p50"])' "$all")"
    kill_at="$(awk -v p="$p50_all" 'BEGIN { printf "%.2f\n", p / 2 }')"
    killed="$(run_swarm killed "$peers" --kill-fraction 0.1 --kill-at "$kill_at")"
    python3 - "$size" "$lone" "$all" "$killed" <<'PY' | tee -a "$results"
import json, sys
size = int(sys.argv[1])
lone, runs = json.loads(sys.argv[2]), [("lone reader", json.loads(sys.argv[2])),
                                       ("all peers", json.loads(sys.argv[3])),
                                       ("10% killed midway", json.loads(sys.argv[4]))]
ref = lone["max"]
print(f"{'run':<20} {'done':>9} {'origin/size':>11} {'p50 s':>7} {'p90 s':>7} {'max s':>7} {'max/lone':>8} {'CPU-s/peer':>10}  fetched (cdn/peer MiB)")
for name, r in runs:
    done = f"{r['completed']}/{r['peers'] - r['killed']}"
    f = r["fetched"]
    print(f"{name:<20} {done:>9} {r['origin_bytes'] / size:>11.3f} {r['p50']:>7.2f} {r['p90']:>7.2f} {r['max']:>7.2f} "
          f"{r['max'] / ref:>8.2f} {r['cpu_s'] / max(r['cpu_peers'], 1):>10.3f}  {f['cdn'] / 1048576:.0f}/{f['peer'] / 1048576:.0f}"
          + (f"  (killed {r['killed']} at {r['killed_at']:.1f} s)" if r['killed'] else "")
          + (f"  failed {r['failed']}" if r['failed'] else "") + (f"  unfinished {r['unfinished']}" if r['unfinished'] else ""))
    for i, why in r.get("errors", {}).items():
        print(f"    peer {i} failed: {why}")
PY
fi
say ""
say "results: $results"
