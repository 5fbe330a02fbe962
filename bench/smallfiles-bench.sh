#!/bin/bash
# bench/smallfiles-bench.sh — a tree of small files through dofs, against the limits.
#
# In one run, on loopback, for N files of 1-64 KiB in nested folders (default 2,000):
#   publish  `dofs publish --tree` of the whole tree     — target >= 200 files/s
#            vs one `dofs publish` per file (a sample of them, per-file rate)
#   curl     one curl process fetching every file in sequence (keep-alive) — the limit
#   ls -lR   of a cold mount of the tree's catalog       — target: 0 requests to the origin
#   cold cat of every file, in path order, empty cache    — target <= 1.5x curl
#   warm cat on a fresh mount of the filled cache
#   limits   rounds of, side by side: curl; the FUSE ceiling (bench/fuse-ceiling/tree-ceiling.c, a
#            do-nothing libfuse3 server of the same tree, mounted as dofs mounts) with opens answered,
#            and without opens (FUSE_NO_OPEN_SUPPORT); a dofs cold cat on an empty cache, by default
#            and with `dofs mount --no-open`. The cold/curl
#            target is judged on the median of the rounds' ratios, since this machine's speed drifts
#            between seconds more than between the runs of one round
# and, in the same run, "before": the same tree with a catalog as it was written before
# `--tree` (name, url, integrity only: no size, mtime or embedded pieces), so ls -lR and
# cat show what the catalog fields buy. The dofs daemon's CPU (user+sys, /proc/PID/stat)
# is given for each mount. Results go to stdout and bench/results/smallfiles-<date>.txt.
#
# usage: bench/smallfiles-bench.sh [--files N] [--dir DIR] [--keep] [--strict] [--perf] [--limit-rounds N]
#                                   [--compare BIN [--rounds N] [--walk cat|cp|sha256sum]]
#   --files N  number of files (default 2000)
#   --dir DIR  work directory (default: a new /tmp/dofs-bench.XXXXXX, deleted at the end)
#   --keep     keep the work directory
#   --strict   exit 2 when a target is missed (default: report only)
#   --compare BIN  also run the cold and warm cat with the dofs binary BIN (an older build), in the
#              same run, for a side-by-side figure
#   --rounds N with --compare: then N more cold cats of each binary, alternating (new, old, old, new,
#              ...), each on a cache folder of its own that is deleted only at the end (ext4 charges
#              inode allocations right after a deletion for scanning past the freed inodes, which made
#              one binary's CPU swing 1-5 s between runs); each round's figures and the medians are
#              reported (wall s, daemon CPU s, daemon context switches by `perf stat`)
#   --walk W   with --rounds: what each round does to the cold mount (default cat): `cat` every file,
#              `cp` the tree (`cp -r`, to a folder on tmpfs), or `sha256sum` every file. A reader that
#              works on each file lets the prefetch get further ahead than a plain `cat`
#   --limit-rounds N  rounds of the limits (default 5: with 3, one run's median of the cold/curl ratios
#              moved between 1.19 and 1.52 over five runs of one build within two hours)
#   --perf     record the daemon's CPU profile during the cold cat with `perf record -g`; the top
#              symbols (self time) go to bench/results/smallfiles-<date>.perf.txt
# Environment: DOFS_BIN (use this binary, skip the release build), DOFS_SCRATCH_PATH.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
source "$HERE/../scripts/lib.sh"

files=2000 work="" keep=0 strict=0 do_perf=0 compare_bin="" rounds=0 limit_rounds=5 walk=cat
while [ $# -gt 0 ]; do
    case "$1" in
        --files)  files="${2:?--files needs a number}"; shift 2 ;;
        --dir)    work="${2:?--dir needs a directory}"; shift 2 ;;
        --keep)   keep=1; shift ;;
        --strict) strict=1; shift ;;
        --perf)   do_perf=1; shift ;;
        --compare) compare_bin="${2:?--compare needs a dofs binary}"; shift 2 ;;
        --rounds) rounds="${2:?--rounds needs a number}"; shift 2 ;;
        --limit-rounds) limit_rounds="${2:?--limit-rounds needs a number}"; shift 2 ;;
        --walk)   walk="${2:?--walk needs cat, cp or sha256sum}"; shift 2 ;;
        -h|--help) usage_from_header "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[ -z "$compare_bin" ] || [ -x "$compare_bin" ] || die "--compare: $compare_bin is not an executable"
[[ "$files" =~ ^[1-9][0-9]*$ ]] || die "--files needs a positive number"
[[ "$rounds" =~ ^[0-9]+$ ]] || die "--rounds needs a number"
[[ "$limit_rounds" =~ ^[1-9][0-9]*$ ]] || die "--limit-rounds needs a positive number"
[ "$rounds" = 0 ] || [ -n "$compare_bin" ] || die "--rounds needs --compare"
case "$walk" in cat|cp|sha256sum) ;; *) die "--walk: '$walk' is not cat, cp or sha256sum" ;; esac
[ "$walk" = cat ] || [ "$rounds" != 0 ] || die "--walk needs --rounds"

bench_workdir dofs-bench
origin="$work/origin" mnt="$work/mnt" nginx_prefix="$work/nginx" access="$work/nginx/logs/access.log"
tree="$origin/tree" catalog="$work/tree-catalog.json" plain_catalog="$work/plain-catalog.json"

NGINX_PID="" DOFS_PID="" mounted="" PERF_PID="" CEILING_PID="" copy_dir=""
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$PERF_PID" ]; then kill -INT "$PERF_PID" 2>/dev/null || true; wait "$PERF_PID" 2>/dev/null || true; fi
    if [ -n "$mounted" ]; then dofs_unmount "$mounted" "$DOFS_PID" || true; fi
    if [ -n "$CEILING_PID" ]; then ceiling_stop || true; fi
    if [ -n "$NGINX_PID" ]; then nginx_stop "$NGINX_PID" || true; fi
    if [ -n "$copy_dir" ]; then rm -rf "$copy_dir"; fi
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

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
ticks_s() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "inf"; else printf "%.2f\n", a / b }'; }

# mount_catalog CATALOG CACHE [BIN [MOUNT ARGS...]] — a fresh mount (mode 99: the data path alone).
mount_catalog() {
    local catalog="$1" cache="$2" bin="${3:-$DOFS_BIN}"
    shift $(( $# < 3 ? $# : 3 ))
    dofs_mount_bg "$bin" "$mnt" "$cache" "$work/dofs-$(basename "$cache").log" --catalog "$catalog" --download-mode 99 "$@"
    mounted="$mnt"
}
unmount_now() { dofs_unmount "$mnt" "$DOFS_PID"; mounted="" DOFS_PID=""; }

# timed_on_mount COMMAND... — runs COMMAND; prints "SECONDS REQUESTS CPU_S CONNECTIONS SWITCHES"
# (origin requests, daemon CPU and the TCP connections nginx served them on, during it, and the
# daemon's context switches, all its threads, counted by `perf stat` when perf is there, else n/a).
timed_on_mount() {
    local lines0 t0 secs c0=0 cpu="n/a" switches="n/a" stat_pid=""
    lines0="$(log_lines "$access")"
    [ -n "$DOFS_PID" ] && c0="$(cpu_ticks "$DOFS_PID")"
    if [ -n "$DOFS_PID" ] && [ -z "$PERF_PID" ] && command -v perf >/dev/null 2>&1; then
        perf stat -x, -e context-switches -p "$DOFS_PID" -o "$work/switches.csv" >/dev/null 2>&1 &
        stat_pid=$!
        sleep 0.1
    fi
    t0="$(now)"
    "$@" >/dev/null || die "'$*' failed"
    secs="$(elapsed "$t0")"
    if [ -n "$stat_pid" ]; then
        kill -INT "$stat_pid" 2>/dev/null || true
        wait "$stat_pid" 2>/dev/null || true
        switches="$(awk -F, '/context-switches/ { print $1 }' "$work/switches.csv" 2>/dev/null)"
        [[ "$switches" =~ ^[0-9]+$ ]] || switches="n/a"
    fi
    sleep 0.2  # let nginx write its last log lines
    [ -n "$DOFS_PID" ] && cpu="$(ticks_s $(( $(cpu_ticks "$DOFS_PID") - c0 )))"
    printf '%s %s %s %s %s\n' "$secs" "$(origin_requests "$access" "$lines0")" "$cpu" "$(origin_connections "$access" "$lines0")" "$switches"
}
# origin_connections ACCESS_LOG FROM_LINE — distinct connections (nginx's c=N) after FROM_LINE.
origin_connections() { awk -v from="$2" 'NR > from && $NF ~ /^c=/ { c[$NF] = 1 } END { printf "%d\n", length(c) }' "$1"; }
cat_all() { cat_tree "$mnt"; }
# walk_all — the rounds' walk of the mount (--walk); `cp` copies to $copy_dir, emptied before each round.
walk_all() {
    case "$walk" in
        cat) cat_all ;;
        cp) cp -r "$mnt/." "$copy_dir/tree" ;;
        sha256sum) each_file_through "$mnt" sha256sum ;;
    esac
}
cat_tree() { each_file_through "$1" cat; }
# each_file_through DIR COMMAND — COMMAND on every file under DIR, in sorted path order.
each_file_through() { (cd "$1" && find . -type f | sort | xargs -d '\n' "$2"); }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# ceiling_start open|noopen — mounts the FUSE ceiling of the tree (its files without their PHFs,
# as the catalog lists them) on $ceil_mnt.
ceil_mnt="$work/ceiling-mnt" ceil_tree="$work/ceiling-tree" ceil_bin="$work/tree-ceiling"
ceiling_start() { ceiling_mount "$ceil_mnt" "$work/ceiling.out" "$ceil_bin" "$ceil_mnt" "$ceil_tree" "$1"; }
ceiling_stop() { ceiling_unmount "$ceil_mnt"; }
# timed_ceiling open|noopen — seconds of a cat of every file through a fresh ceiling mount.
timed_ceiling() {
    ceiling_start "$1"
    local t0 s
    t0="$(now)"
    cat_tree "$ceil_mnt" >/dev/null || die "cat through the FUSE ceiling failed"
    s="$(elapsed "$t0")"
    ceiling_stop
    echo "$s"
}
ls_all() { ls -lR "$mnt"; }

# perf_start / perf_stop — with --perf, `perf record -g` on the daemon in between.
perf_start() {
    [ "$do_perf" = 1 ] && [ -n "$DOFS_PID" ] || return 0
    perf record -q -F 999 -g -p "$DOFS_PID" -o "$work/perf.data" >/dev/null 2>&1 &
    PERF_PID=$!
    sleep 0.5
}
perf_stop() {
    [ -n "$PERF_PID" ] || return 0
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
    PERF_PID=""
}

# ---- setup
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
ensure_system_packages "${DOFS_SYSTEM_PACKAGES[@]}"
if [ "$do_perf" = 1 ]; then command -v perf >/dev/null 2>&1 || die "--perf needs perf (package linux-perf)"; fi
check_fuse || die "FUSE is not usable on this machine"
build_dofs release
gcc -O2 -o "$ceil_bin" "$HERE/fuse-ceiling/tree-ceiling.c" $(pkg-config --cflags --libs fuse3) \
    || die "cannot build bench/fuse-ceiling/tree-ceiling.c"
mkdir -p "$tree" "$mnt"

log "making $files files of 1-64 KiB in 40 folders"
python3 - "$tree" "$files" <<'EOF'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random("dofs-smallfiles")
for i in range(n):
    folder = os.path.join(root, f"d{i % 8}", f"e{i % 5}")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"f{i:05d}.dat"), "wb") as f:
        f.write(rng.randbytes(rng.randint(1024, 64 * 1024)))
EOF
total_bytes="$(find "$tree" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')"
note "$(human_bytes "$total_bytes") in all"

port="$(free_port)"
base="http://127.0.0.1:$port"
nginx_start "$origin" "$nginx_prefix" "$port"

# ---- publish: --tree, then one file at a time (a sample)
log "dofs publish --tree"
t0="$(now)"
"$DOFS_BIN" publish --tree "$tree" --url-base "$base/tree/" --catalog-out "$catalog" >"$work/publish.json" \
    || die "dofs publish --tree failed"
tree_s="$(elapsed "$t0")"
tree_rate="$(awk -v n="$files" -v s="$tree_s" 'BEGIN { printf "%.0f", n / s }')"
note "$tree_s s = $tree_rate files/s"

sample=$(( files < 50 ? files : 50 ))
log "one dofs publish per file, $sample files"
mkdir -p "$work/single-phf"
t0="$(now)"
find "$tree" -type f ! -name '*.phf' | sort >"$work/all-files"
head -n "$sample" "$work/all-files" | while read -r f; do
    rel="${f#"$tree"/}"
    "$DOFS_BIN" publish "$f" --url "$base/tree/$rel" --phf-out "$work/single-phf/$(echo "$rel" | tr / _).phf" >/dev/null \
        || die "dofs publish $f failed"
done
single_s="$(elapsed "$t0")"
single_rate="$(awk -v n="$sample" -v s="$single_s" 'BEGIN { printf "%.1f", n / s }')"
note "$single_s s = $single_rate files/s"

# The catalog as written before --tree: name, url, integrity (the same PHFs), nothing else.
python3 - "$catalog" "$plain_catalog" <<'EOF'
import json, sys
entries = json.load(open(sys.argv[1]))
plain = [{"name": e["name"], "url": e["url"],
          "integrity": {k: e["integrity"][k] for k in ("PiecesHashFileUrl", "HashOfHashes")}} for e in entries]
json.dump(plain, open(sys.argv[2], "w"), indent=1)
EOF

# ---- curl: every file in sequence, one process (connection reuse)
log "curl: every file in sequence, one process"
find "$tree" -type f ! -name '*.phf' | sort | sed "s|^$tree/|url = \"$base/tree/|; s|\$|\"\noutput = \"/dev/null\"|" >"$work/curl.cfg"
cat "$tree"/*/*/*.dat >/dev/null  # nginx serves from the page cache, as it will for dofs
curl_runs=()
for _ in 1 2 3; do
    t0="$(now)"
    curl -sS --fail -K "$work/curl.cfg" || die "curl failed"
    curl_runs+=("$(elapsed "$t0")")
    note "${curl_runs[-1]} s"
done
curl_s="$(printf '%s\n' "${curl_runs[@]}" | sort -g | sed -n 2p)"
cp -al "$tree" "$ceil_tree"
find "$ceil_tree" -name '*.phf' -delete

# ---- after: the --tree catalog
log "after (--tree catalog: size, mtime, embedded pieces)"
mount_catalog "$catalog" "$work/cache-tree"
read -r ls_s ls_reqs ls_cpu _ < <(timed_on_mount ls_all)
note "ls -lR: $ls_s s, $ls_reqs requests, daemon CPU $ls_cpu s"
perf_start
read -r cold_s cold_reqs cold_cpu cold_conns cold_sw < <(timed_on_mount cat_all)
perf_stop
note "cold cat: $cold_s s, $cold_reqs requests on $cold_conns connection(s), daemon CPU $cold_cpu s"
log "data check: every file through the mount against the original"
if (cd "$tree" && find . -type f ! -name '*.phf' | sort | xargs -d '\n' cat) | cmp -s - <(cat_all); then data_check="OK (identical)"; else data_check="MISMATCH"; fi
note "$data_check"
unmount_now
mount_catalog "$catalog" "$work/cache-tree"
read -r warm_s warm_reqs warm_cpu _ < <(timed_on_mount cat_all)
note "warm cat (fresh mount, filled cache): $warm_s s, $warm_reqs requests"
unmount_now

# ---- the limits, side by side in rounds: curl, the FUSE ceiling (with and without opens), dofs cold
log "limits: $limit_rounds rounds of curl, the FUSE ceiling and a dofs cold cat"
lim_curl=() lim_ceil=() lim_noopen=() lim_cold=() lim_cold_no=() limit_lines=()
r_cold_rounds=() r_ceil_rounds=() r_noopen_rounds=() r_cold_no_rounds=()
for r in $(seq 1 "$limit_rounds"); do
    t0="$(now)"
    curl -sS --fail -K "$work/curl.cfg" || die "curl failed"
    c_s="$(elapsed "$t0")"
    e_s="$(timed_ceiling open)"
    n_s="$(timed_ceiling noopen)"
    mount_catalog "$catalog" "$work/cache-limit-$r"
    read -r d_s _ d_cpu _ < <(timed_on_mount cat_all)
    unmount_now
    mount_catalog "$catalog" "$work/cache-limit-no-open-$r" "$DOFS_BIN" --no-open
    read -r dn_s _ dn_cpu _ < <(timed_on_mount cat_all)
    unmount_now
    lim_curl+=("$c_s") lim_ceil+=("$e_s") lim_noopen+=("$n_s") lim_cold+=("$d_s") lim_cold_no+=("$dn_s")
    r_cold_rounds+=("$(ratio "$d_s" "$c_s")") r_ceil_rounds+=("$(ratio "$e_s" "$c_s")") r_noopen_rounds+=("$(ratio "$n_s" "$c_s")")
    r_cold_no_rounds+=("$(ratio "$dn_s" "$c_s")")
    note "round $r: curl $c_s s, ceiling $e_s s (no opens $n_s s), dofs cold $d_s s (CPU $d_cpu s), with --no-open $dn_s s (CPU $dn_cpu s)"
    limit_lines+=("$(printf '%-50s %9s %9s %9s %9s %9s' "limits round $r" "$c_s" "$e_s" "$n_s" "$d_s" "$dn_s")")
done
rm -rf "$work"/cache-limit-*
r_cold_med="$(median "${r_cold_rounds[@]}")" r_ceil_med="$(median "${r_ceil_rounds[@]}")" r_noopen_med="$(median "${r_noopen_rounds[@]}")"
r_cold_no_med="$(median "${r_cold_no_rounds[@]}")"

# ---- the same with the older binary (--compare)
if [ -n "$compare_bin" ]; then
    log "compare: $compare_bin, the same catalog"
    mount_catalog "$catalog" "$work/cache-old" "$compare_bin"
    read -r ocold_s ocold_reqs ocold_cpu ocold_conns ocold_sw < <(timed_on_mount cat_all)
    note "cold cat: $ocold_s s, $ocold_reqs requests on $ocold_conns connection(s), daemon CPU $ocold_cpu s"
    unmount_now
    mount_catalog "$catalog" "$work/cache-old" "$compare_bin"
    read -r owarm_s owarm_reqs owarm_cpu _ < <(timed_on_mount cat_all)
    note "warm cat (fresh mount, filled cache): $owarm_s s, $owarm_reqs requests"
    unmount_now
fi

# ---- rounds: alternating cold cats of both binaries (--rounds)
round_lines=()
if [ "$rounds" -gt 0 ]; then
    log "rounds: $rounds cold walks ($walk) of each binary, alternating"
    if [ "$walk" = cp ]; then copy_dir="$(mktemp -d /dev/shm/dofs-walk.XXXXXX)" || die "cannot make a folder on /dev/shm"; fi
    new_s=() new_cpu=() old_s=() old_cpu=() new_sw=() old_sw=()
    for r in $(seq 1 "$rounds"); do
        order=(new old); [ $((r % 2)) = 0 ] && order=(old new)
        for which in "${order[@]}"; do
            bin="$DOFS_BIN"; [ "$which" = old ] && bin="$compare_bin"
            mount_catalog "$catalog" "$work/cache-round-$r-$which" "$bin"
            [ -z "$copy_dir" ] || rm -rf "$copy_dir/tree"
            read -r rs _ rcpu _ rsw < <(timed_on_mount walk_all)
            unmount_now
            note "round $r, $which: cold $walk $rs s, daemon CPU $rcpu s, $rsw context switches"
            round_lines+=("$(printf '%-50s %9s %9s %10s %9s' "round $r: cold $walk, $which" "$rs" "$files" "$rcpu" "$rsw")")
            if [ "$which" = new ]; then new_s+=("$rs") new_cpu+=("$rcpu") new_sw+=("$rsw"); else old_s+=("$rs") old_cpu+=("$rcpu") old_sw+=("$rsw"); fi
        done
    done
    round_lines+=("$(printf '%-50s %9s %9s %10s %9s' "median of the rounds: new" "$(median "${new_s[@]}")" "" "$(median "${new_cpu[@]}")" "$(median "${new_sw[@]}")")")
    round_lines+=("$(printf '%-50s %9s %9s %10s %9s' "median of the rounds: old" "$(median "${old_s[@]}")" "" "$(median "${old_cpu[@]}")" "$(median "${old_sw[@]}")")")
    rm -rf "$work"/cache-round-*
    if [ -n "$copy_dir" ]; then rm -rf "$copy_dir"; copy_dir=""; fi
fi

# ---- before: the plain catalog
log "before (catalog without size, mtime or pieces)"
mount_catalog "$plain_catalog" "$work/cache-plain"
read -r pls_s pls_reqs pls_cpu _ < <(timed_on_mount ls_all)
note "ls -lR: $pls_s s, $pls_reqs requests, daemon CPU $pls_cpu s"
unmount_now
rm -rf "$work/cache-plain"
mount_catalog "$plain_catalog" "$work/cache-plain"
read -r pcold_s pcold_reqs pcold_cpu _ < <(timed_on_mount cat_all)
note "cold cat: $pcold_s s, $pcold_reqs requests, daemon CPU $pcold_cpu s"
unmount_now
nginx_stop "$NGINX_PID"; NGINX_PID=""

# ---- report
v_pub="$(awk -v r="$tree_rate" 'BEGIN { print (r >= 200 ? "PASS" : "MISSED") }')"
v_ls="$( [ "$ls_reqs" = 0 ] && echo PASS || echo MISSED )"
r_cold="$(ratio "$cold_s" "$curl_s")"
v_cold="$(awk -v r="$r_cold_med" 'BEGIN { print (r <= 1.5 ? "PASS" : "MISSED") }')"
v_cold_no="$(awk -v r="$r_cold_no_med" 'BEGIN { print (r <= 1.5 ? "PASS" : "MISSED") }')"
rev="$(git -C "$DOFS_ROOT" rev-parse --short HEAD 2>/dev/null || echo none)"
git -C "$DOFS_ROOT" diff --quiet HEAD -- Sources 2>/dev/null || rev="$rev+uncommitted"
mkdir -p "$HERE/results"
results="$HERE/results/smallfiles-$(date -u +%Y%m%d-%H%M%S).txt"
{
    echo "dofs small-file benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "machine: $(uname -srm), $(nproc) cores; dofs $DOFS_BIN (rev $rev)"
    echo "tree:    $files files of 1-64 KiB, $(human_bytes "$total_bytes"), 40 folders; origin nginx on 127.0.0.1"
    echo "load:    $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
    echo
    printf '%-50s %9s %9s %10s %9s\n' "" "seconds" "requests" "dofs CPU s" "switches"
    printf '%-50s %9s\n' "publish --tree ($tree_rate files/s)" "$tree_s"
    printf '%-50s %9s\n' "publish one file at a time ($single_rate files/s, $sample files)" "$single_s"
    printf '%-50s %9s %9s\n' "curl, every file in sequence (median of 3)" "$curl_s" "$files"
    printf '%-50s %9s %9s %10s\n' "after:  ls -lR of a cold mount" "$ls_s" "$ls_reqs" "$ls_cpu"
    printf '%-50s %9s %9s %10s %9s\n' "after:  cold cat of every file" "$cold_s" "$cold_reqs" "$cold_cpu" "$cold_sw"
    printf '%-50s %9s %9s %10s\n' "after:  warm cat, fresh mount" "$warm_s" "$warm_reqs" "$warm_cpu"
    if [ -n "$compare_bin" ]; then
        printf '%-50s %9s %9s %10s %9s\n' "compare: cold cat, $(basename "$(dirname "$compare_bin")")/$(basename "$compare_bin")" "$ocold_s" "$ocold_reqs" "$ocold_cpu" "$ocold_sw"
        printf '%-50s %9s %9s %10s\n' "compare: warm cat, fresh mount" "$owarm_s" "$owarm_reqs" "$owarm_cpu"
    fi
    for line in "${round_lines[@]}"; do echo "$line"; done
    echo
    printf '%-50s %9s %9s %9s %9s %9s\n' "limits, side by side (seconds)" "curl" "ceiling" "no opens" "dofs cold" "--no-open"
    for line in "${limit_lines[@]}"; do echo "$line"; done
    printf '%-50s %9s %9s %9s %9s %9s\n' "median" "$(median "${lim_curl[@]}")" "$(median "${lim_ceil[@]}")" "$(median "${lim_noopen[@]}")" \
        "$(median "${lim_cold[@]}")" "$(median "${lim_cold_no[@]}")"
    printf '%-50s %9s %9s %9s %9s %9s\n' "median of the rounds' ratios to curl" "1" "$r_ceil_med" "$r_noopen_med" "$r_cold_med" "$r_cold_no_med"
    echo
    printf '%-50s %9s %9s %10s\n' "before: ls -lR of a cold mount" "$pls_s" "$pls_reqs" "$pls_cpu"
    printf '%-50s %9s %9s %10s\n' "before: cold cat of every file" "$pcold_s" "$pcold_reqs" "$pcold_cpu"
    echo
    printf '%-30s %9s %10s   %s\n' "target" "value" "limit" "result"
    printf '%-30s %9s %10s   %s\n' "publish --tree files/s" "$tree_rate" ">= 200" "$v_pub"
    printf '%-30s %9s %10s   %s\n' "ls -lR requests (cold)" "$ls_reqs" "0" "$v_ls"
    printf '%-30s %9s %10s   %s\n' "cold cat / curl (rounds)" "$r_cold_med" "<= 1.5" "$v_cold"
    printf '%-30s %9s %10s   %s\n' "  dofs mount --no-open" "$r_cold_no_med" "<= 1.5" "$v_cold_no"
    printf '%-30s %9s %10s   %s\n' "  the single run above" "$r_cold" "" ""
    printf '%-30s %9s %10s   %s\n' "  limit: FUSE ceiling / curl" "$r_ceil_med" "" "a do-nothing libfuse server, opens answered"
    printf '%-30s %9s %10s   %s\n' "  no opens / curl" "$r_noopen_med" "" "the same without OPEN round trips"
    [ -z "$compare_bin" ] || printf '%-30s %9s %10s   %s\n' "compare: cold cat / curl" "$(ratio "$ocold_s" "$curl_s")" "<= 1.5" "(the older binary)"
    echo
    echo "cold cat: $cold_reqs requests on $cold_conns connection(s) (keep-alive)"
    echo "data check: $data_check"
} | tee "$results"
log "results written to $results"
if [ -f "$work/perf.data" ]; then
    {
        echo "# perf record -g -F 999 on the dofs daemon during the cold cat ($files files); self time by symbol"
        perf report -i "$work/perf.data" --no-children --sort sym --stdio 2>/dev/null \
            | grep -v '^$' | grep -E '^ +[0-9.]+%' | head -n 60
        echo
        echo "# the same, by shared object"
        perf report -i "$work/perf.data" --no-children --sort dso --stdio 2>/dev/null \
            | grep -v '^$' | grep -E '^ +[0-9.]+%' | head -n 15
        echo
        echo "# including children (where the time goes, top down)"
        perf report -i "$work/perf.data" --children --sort sym --stdio -g none 2>/dev/null \
            | grep -v '^$' | grep -E '^ +[0-9.]+%' | head -n 60
    } >"${results%.txt}.perf.txt" || true
    log "CPU profile of the cold cat: ${results%.txt}.perf.txt"
fi

[ "$data_check" = "OK (identical)" ] || die "the files read through dofs differ from the originals"
if [ "$strict" = 1 ] && { [ "$v_pub" != PASS ] || [ "$v_ls" != PASS ] || [ "$v_cold" != PASS ]; }; then
    log "a target was missed (--strict)"
    exit 2
fi
exit 0
