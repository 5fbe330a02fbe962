# shellcheck shell=bash
# scripts/lib.sh — helpers shared by scripts/quickstart.sh, scripts/test.sh,
# bench/read-bench.sh and mount-helpers/install.sh. Source it; do not run it.
#
# Everything here is bounded: every wait has a timeout, every process we start
# is stopped by its PID (never by name), and nothing prompts (apt-get runs
# non-interactively).

# Repository root (this file lives in <root>/scripts/).
DOFS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# System packages dofs needs to build, test and run its demos on Debian 12.
DOFS_SYSTEM_PACKAGES=(fuse3 libfuse3-dev gcc libcurl4-openssl-dev libssl-dev openssl libsqlite3-dev pkg-config
                      nginx-light attr python3 curl util-linux tmux systemd postgresql)


# ---------------------------------------------------------------- messages

_dofs_prog="$(basename "${0:-dofs}")"

log()  { printf '==> %s\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
warn() { printf '%s: warning: %s\n' "$_dofs_prog" "$*" >&2; }
die()  { printf '%s: error: %s\n' "$_dofs_prog" "$*" >&2; exit 1; }
# usage_from_header SCRIPT — prints SCRIPT's header comment (the lines after the #! line, up to the
# first that is not a comment) without its "# ", as the script's --help: the header is the usage.
usage_from_header() { awk 'NR == 1 { next } !/^#/ { exit } { sub(/^# ?/, ""); print }' "$1"; }

# now — seconds since the epoch with microseconds (bash 5's EPOCHREALTIME).
now() { printf '%s\n' "${EPOCHREALTIME/,/.}"; }

# elapsed START — seconds since START (a value from `now`), 3 decimals.
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f\n", b - a }'; }

# mib_per_s BYTES SECONDS — throughput in MiB/s, 1 decimal.
mib_per_s() { awk -v b="$1" -v s="$2" 'BEGIN { if (s <= 0) s = 0.000001; printf "%.1f\n", b / 1048576 / s }'; }

# human_bytes BYTES
human_bytes() {
    awk -v b="$1" 'BEGIN { split("B KiB MiB GiB TiB", u, " "); i = 1
        while (b >= 1024 && i < 5) { b /= 1024; i++ }
        if (i == 1) printf "%d %s\n", b, u[i]; else printf "%.1f %s\n", b, u[i] }'
}

# ---------------------------------------------------------------- system packages

# missing_packages PKG... — prints the packages that dpkg does not list as installed.
missing_packages() {
    local p
    for p in "$@"; do
        if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]; then
            printf '%s\n' "$p"
        fi
    done
}

# ensure_system_packages [PKG...] — installs whichever of the packages (default:
# DOFS_SYSTEM_PACKAGES) are missing, with apt-get, never prompting. Does nothing
# (and needs no root) when all are present. Services that packages would start
# (nginx's default site on :80) are kept from starting during the install.
ensure_system_packages() {
    local pkgs=("$@")
    [ ${#pkgs[@]} -gt 0 ] || pkgs=("${DOFS_SYSTEM_PACKAGES[@]}")
    if ! command -v dpkg-query >/dev/null 2>&1; then
        warn "not a Debian-like system (no dpkg-query): make sure these are installed: ${pkgs[*]}"
        return 0
    fi
    local missing
    mapfile -t missing < <(missing_packages "${pkgs[@]}")
    if [ ${#missing[@]} -eq 0 ]; then
        log "system packages: all present (${pkgs[*]})"
        return 0
    fi
    log "system packages: installing ${missing[*]}"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "need root to install: ${missing[*]} (run as root or install them first)"
        sudo=(sudo)
        [ -t 0 ] || sudo=(sudo -n)
    fi
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install by hand: ${missing[*]}"

    # Keep package maintainer scripts from starting services (the stock nginx
    # would bind 0.0.0.0:80, and its start failing would fail the install).
    local policy=/usr/sbin/policy-rc.d placed_policy=0
    if [ ! -e "$policy" ]; then
        if printf '#!/bin/sh\n# temporary, placed by dofs scripts/lib.sh during apt-get install\nexit 101\n' \
            | "${sudo[@]}" tee "$policy" >/dev/null && "${sudo[@]}" chmod 755 "$policy"; then
            placed_policy=1
        fi
    fi
    local rc=0
    {
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q -o Acquire::Retries=3 &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            -o Acquire::Retries=3 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
            "${missing[@]}"
    } || rc=$?
    if [ "$placed_policy" = 1 ]; then "${sudo[@]}" rm -f "$policy" || true; fi
    [ "$rc" = 0 ] || die "apt-get failed (exit $rc) installing: ${missing[*]}"
    mapfile -t missing < <(missing_packages "${pkgs[@]}")
    [ ${#missing[@]} -eq 0 ] || die "still missing after apt-get: ${missing[*]}"
}

# ---------------------------------------------------------------- libfuse with passthrough

# FUSE passthrough lets the kernel serve reads of a complete content straight from its local copy, at
# page-cache speed (a FUSE server's own replies top out at a fraction of it). It needs libfuse >= 3.16;
# Debian 12 ships 3.14. ensure_libfuse_passthrough builds Debian's own fuse3 3.17.2 source (the one in
# Debian 13, fetched from Debian's archive and checked against the hash its Sources index gives) into
# DOFS_LIBFUSE_PREFIX. The library's soname (libfuse3.so.4) differs from 3.14's (libfuse3.so.3), so the
# system's programs keep theirs. Without it dofs builds against 3.14 and reads without passthrough.
DOFS_LIBFUSE_PREFIX="${DOFS_LIBFUSE_PREFIX:-/opt/dofs-libfuse}"
DOFS_LIBFUSE_SOURCE="http://deb.debian.org/debian/pool/main/f/fuse3/fuse3_3.17.2.orig.tar.gz"
DOFS_LIBFUSE_SHA256="3d932431ad94e86179e5265cddde1d67aa3bb2fb09a5bd35c641f86f2b5ed06f"

# use_libfuse_prefix — points pkg-config (and so `swift build`) at DOFS_LIBFUSE_PREFIX when a libfuse
# is installed there; nothing otherwise.
use_libfuse_prefix() {
    local pc
    pc="$(find "$DOFS_LIBFUSE_PREFIX" -name fuse3.pc -print -quit 2>/dev/null || true)"
    [ -n "$pc" ] || return 0
    export PKG_CONFIG_PATH="$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
}

# ensure_libfuse_passthrough — makes a libfuse >= 3.16 available to the build (see above): the system's
# when it is recent enough, else the one in DOFS_LIBFUSE_PREFIX, built there first if missing.
ensure_libfuse_passthrough() {
    if pkg-config --atleast-version=3.16 fuse3 2>/dev/null; then
        log "libfuse: the system's $(pkg-config --modversion fuse3) has passthrough"
        return 0
    fi
    use_libfuse_prefix
    if pkg-config --atleast-version=3.16 fuse3 2>/dev/null; then
        log "libfuse: $(pkg-config --modversion fuse3) in $DOFS_LIBFUSE_PREFIX"
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        warn "libfuse $(pkg-config --modversion fuse3 2>/dev/null || echo '?') has no passthrough; run as root to build 3.17.2 into $DOFS_LIBFUSE_PREFIX"
        return 0
    fi
    ensure_system_packages meson ninja-build gcc pkg-config curl xz-utils
    local work
    work="$(mktemp -d "${TMPDIR:-/tmp}/dofs-libfuse.XXXXXX")"
    log "libfuse: building 3.17.2 from Debian's source into $DOFS_LIBFUSE_PREFIX"
    curl -fsS --retry 3 -m 300 -o "$work/fuse3.tar.gz" "$DOFS_LIBFUSE_SOURCE" || die "cannot fetch $DOFS_LIBFUSE_SOURCE"
    echo "$DOFS_LIBFUSE_SHA256  $work/fuse3.tar.gz" | sha256sum -c --quiet - \
        || die "$DOFS_LIBFUSE_SOURCE does not have the SHA-256 Debian's Sources index gives"
    tar -xzf "$work/fuse3.tar.gz" -C "$work"
    ( cd "$work"/fuse-3.17.2 &&
      meson setup build --prefix="$DOFS_LIBFUSE_PREFIX" --buildtype=release \
          -Dexamples=false -Dutils=false -Dtests=false >"$work/build.log" 2>&1 &&
      ninja -C build install >>"$work/build.log" 2>&1 ) || { tail -20 "$work/build.log" >&2; die "libfuse build failed"; }
    local libdir
    libdir="$(dirname "$(find "$DOFS_LIBFUSE_PREFIX" -name 'libfuse3.so.4' -print -quit)")"
    # Link by file name: with Debian's libfuse3-dev installed, its libfuse3.so may come first on the
    # linker's path (another library's -L/usr/lib/... goes before ours) and -lfuse3 would take 3.14.
    sed -i 's/^Libs: \(.*\) -lfuse3 /Libs: \1 -l:libfuse3.so.4 /' "$libdir/pkgconfig/fuse3.pc"
    # The dofs binary finds the library through the loader's path, as any other system library.
    echo "$libdir" >/etc/ld.so.conf.d/dofs-libfuse.conf && ldconfig
    rm -rf "$work"
    use_libfuse_prefix
    log "libfuse: $(pkg-config --modversion fuse3) in $DOFS_LIBFUSE_PREFIX"
}

# check_fuse — warns (returns 1) when FUSE mounts cannot work here.
check_fuse() {
    local ok=0
    [ -e /dev/fuse ] || { warn "/dev/fuse does not exist: FUSE mounts will fail (modprobe fuse, or give the container --device /dev/fuse)"; ok=1; }
    command -v fusermount3 >/dev/null 2>&1 || { warn "fusermount3 not found (package fuse3)"; ok=1; }
    return $ok
}

# ---------------------------------------------------------------- swift and the dofs binary

# ensure_swift — puts swift on PATH (it lives in /opt/swift/usr/bin on our machines).
ensure_swift() {
    if ! command -v swift >/dev/null 2>&1; then
        if [ -x /opt/swift/usr/bin/swift ]; then
            export PATH="/opt/swift/usr/bin:$PATH"
        else
            die "swift not found on PATH or in /opt/swift/usr/bin; install Swift 6.x first"
        fi
    fi
}

# swift_scratch_args — --scratch-path when DOFS_SCRATCH_PATH is set (default: .build).
swift_scratch_args() {
    if [ -n "${DOFS_SCRATCH_PATH:-}" ]; then
        printf '%s\n' --scratch-path "$DOFS_SCRATCH_PATH"
    fi
}

# build_dofs CONFIG — `swift build -c CONFIG --product dofs` in the repository and
# sets DOFS_BIN to the binary. If DOFS_BIN is already set (and executable), it is
# used as it is and nothing is built.
build_dofs() {
    local config="${1:-release}"
    use_libfuse_prefix
    if [ -n "${DOFS_BIN:-}" ]; then
        [ -x "$DOFS_BIN" ] || die "DOFS_BIN=$DOFS_BIN is not an executable file"
        log "using DOFS_BIN=$DOFS_BIN (not building)"
        return 0
    fi
    ensure_swift
    local scratch
    mapfile -t scratch < <(swift_scratch_args)
    log "building dofs ($config): swift build -c $config --product dofs ${scratch[*]}"
    local t0; t0="$(now)"
    (cd "$DOFS_ROOT" && swift build -c "$config" --product dofs "${scratch[@]}") \
        || die "swift build -c $config failed"
    local bindir
    bindir="$(cd "$DOFS_ROOT" && swift build -c "$config" --show-bin-path "${scratch[@]}")" \
        || die "swift build --show-bin-path failed"
    DOFS_BIN="$bindir/dofs"
    [ -x "$DOFS_BIN" ] || die "build finished but $DOFS_BIN is missing"
    note "built $DOFS_BIN in $(elapsed "$t0") s"
}

# ---------------------------------------------------------------- ports, files

# free_port — prints a TCP port that is free on 127.0.0.1 right now.
free_port() {
    python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

# make_random_file PATH BYTES [SEED] — deterministic pseudo-random content
# (the same PATH, BYTES and SEED always give the same bytes).
make_random_file() {
    python3 - "$1" "$2" "${3:-dofs}" <<'EOF'
import random, sys
path, size, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rng = random.Random(seed)
chunk = 16 << 20
with open(path + ".tmp", "wb") as f:
    left = size
    while left > 0:
        n = min(chunk, left)
        f.write(rng.randbytes(n))
        left -= n
import os
os.replace(path + ".tmp", path)
EOF
}

# warm_memory BYTES — writes BYTES of fresh memory once (at most the free memory less 2 GiB) and lets
# it go. On these VMs the first touch of memory the guest never used costs a host fault per page
# (touching 8 GiB took 22 s the first time, 10 s the next), and the same cold read measured 1.4 to
# 3.1 CPU-s per GiB within an hour. Freed pages are handed out again first, so a benchmark run after
# this draws memory that has been touched.
warm_memory() {
    local want="$1" free_kb cap
    free_kb="$(awk '/^MemFree:/ { print $2 }' /proc/meminfo)"
    cap=$(( (free_kb - 2 * 1024 * 1024) * 1024 ))
    [ "$want" -gt "$cap" ] && want="$cap"
    [ "$want" -gt 0 ] || return 0
    python3 -c 'import sys; bytearray(b"\1") * int(sys.argv[1])' "$want"
}

# bench_workdir PREFIX — sets `work` to the folder the caller's --dir named (created, made absolute) or,
# when none was named, to a new /tmp/PREFIX.XXXXXX; sets made_work=1 when it made one, for the
# caller's cleanup to delete.
bench_workdir() {
    made_work=0
    if [ -z "$work" ]; then
        work="$(mktemp -d "/tmp/$1.XXXXXX")"
        made_work=1
    else
        mkdir -p "$work"
        work="$(cd "$work" && pwd)"
    fi
}

# trap_cleanup FUNCTION — runs FUNCTION at exit, and turns SIGINT and SIGTERM into exits (130, 143)
# so that it runs then too.
trap_cleanup() {
    trap "$1" EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# ---------------------------------------------------------------- nginx origin

# nginx_start ROOT PREFIX PORT — serves ROOT on 127.0.0.1:PORT with an nginx of
# its own (config, logs, pid and temp files under PREFIX). Logs each request's
# body bytes to PREFIX/access.log (see origin_bytes). Sets NGINX_PID.
nginx_start() {
    local root="$1" prefix="$2" port="$3"
    command -v nginx >/dev/null 2>&1 || die "nginx not found (package nginx-light)"
    mkdir -p "$prefix/tmp" "$prefix/logs"
    local user_line="# not root: no user directive"
    [ "$(id -u)" -eq 0 ] && user_line="user root;"
    cat >"$prefix/nginx.conf" <<EOF
# Origin for dofs demos and benchmarks; written by scripts/lib.sh.
$user_line
worker_processes auto;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log warn;
events { worker_connections 1024; }
http {
    log_format dofs '\$remote_addr [\$time_local] "\$request" \$status \$body_bytes_sent "\$http_range" \$request_time c=\$connection';
    access_log $prefix/logs/access.log dofs;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 100000;
    server {
        listen 127.0.0.1:$port;
        server_name localhost;
        root $root;
        location / { }
    }
}
EOF
    : >"$prefix/logs/access.log"
    rm -f "$prefix/nginx.pid"
    nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" -t -q \
        || die "nginx rejected $prefix/nginx.conf (see above)"
    nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" \
        || die "nginx failed to start; see $prefix/logs/error.log"

    NGINX_PID=""
    for _ in $(seq 1 100); do
        if [ -s "$prefix/nginx.pid" ]; then
            NGINX_PID="$(cat "$prefix/nginx.pid")"
            # Any HTTP answer (even 403 for the index) means it is serving.
            if curl -sS -o /dev/null --max-time 2 "http://127.0.0.1:$port/" 2>/dev/null; then
                return 0
            fi
        fi
        sleep 0.1
    done
    [ -n "$NGINX_PID" ] && nginx_stop "$NGINX_PID"
    die "nginx did not answer on 127.0.0.1:$port within 10 s; see $prefix/logs/error.log"
}

# stop_child PID WORD — stops a server we started (SIGTERM, then SIGKILL after 10 s), only if PID's
# command line contains WORD, so a recycled PID is never signalled.
stop_child() {
    local pid="$1"
    [ -n "$pid" ] && cmdline_has "$pid" "$2" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

# wait_http URL LOG — waits (10 s at most) for URL to answer 2xx; dies pointing at LOG otherwise.
wait_http() {
    for _ in $(seq 1 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
    die "$1 did not answer within 10 s; see $2"
}

# bench_origin WORK FILE SIZE SEED — makes WORK/origin/FILE (SIZE pseudo-random bytes) and serves it
# from an nginx of its own under WORK/nginx. Sets NGINX_PID, port and url.
bench_origin() {
    log "making a $(human_bytes "$3") file"
    mkdir -p "$1/origin"
    make_random_file "$1/origin/$2" "$3" "$4"
    port="$(free_port)"
    nginx_start "$1/origin" "$1/nginx" "$port"
    # shellcheck disable=SC2034  # read by the benchmarks that source this file
    url="http://127.0.0.1:$port/$2"
}

# cmdline_has PID WORD — true when PID's command line contains WORD.
cmdline_has() {
    local c
    c="$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline")" || return 1
    [[ "$c" == *"$2"* ]]
}

# nginx_stop PID — stops the nginx master PID (and its workers), bounded.
# Refuses to signal a PID that is not an nginx process.
nginx_stop() {
    local pid="$1" children
    [ -n "$pid" ] || return 0
    [ -r "/proc/$pid/cmdline" ] || return 0
    if ! cmdline_has "$pid" nginx; then
        warn "PID $pid is not nginx any more; not signalling it"
        return 0
    fi
    children="$(cat "/proc/$pid/task/"*/children 2>/dev/null || true)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        warn "nginx $pid ignored SIGTERM for 10 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    local c
    for c in $children; do
        if cmdline_has "$c" nginx; then
            kill -KILL "$c" 2>/dev/null || true
        fi
    done
}

# origin_bytes ACCESS_LOG [FROM_LINE] — sum of body bytes nginx sent, from line
# FROM_LINE+1 on (default: all lines).
origin_bytes() {
    awk -v from="${2:-0}" 'NR > from { n = split($0, f, "\""); split(f[3], g, " "); s += g[2] } END { printf "%.0f\n", s }' "$1"
}

# origin_requests ACCESS_LOG [FROM_LINE] — number of requests logged after FROM_LINE.
origin_requests() { awk -v from="${2:-0}" 'NR > from { c++ } END { printf "%d\n", c }' "$1"; }

# log_lines FILE — number of lines in FILE (0 if missing).
log_lines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }

# ---------------------------------------------------------------- PostgreSQL

# postgres_bin — the folder of initdb and pg_ctl (Debian keeps them in /usr/lib/postgresql/VERSION/bin).
postgres_bin() { find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1; }

# postgres_start DIR [SERVER OPTION...] — a throwaway PostgreSQL cluster in DIR (created), listening
# on 127.0.0.1 on a free port, superuser `dofs` trusted from loopback, database `dofs`. initdb refuses
# to run as root, so as root the cluster runs as the `postgres` user (the package creates it). Extra
# options go to the server (e.g. "-c fsync=off"). Sets POSTGRES_URL (postgres://dofs@127.0.0.1:PORT/dofs),
# POSTGRES_PORT and POSTGRES_DIR; stop it with postgres_stop.
postgres_start() {
    local dir="$1"; shift
    local bin; bin="$(postgres_bin)"
    [ -n "$bin" ] && [ -x "$bin/initdb" ] || die "PostgreSQL's initdb not found under /usr/lib/postgresql (package postgresql)"
    mkdir -p "$dir"
    local as=()
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || die "no postgres user to run PostgreSQL as (package postgresql creates it)"
        chown postgres: "$dir"
        as=(runuser -u postgres --)
        "${as[@]}" test -x "$dir" \
            || die "the postgres user cannot reach $dir (a parent folder is not searchable by others, e.g. mktemp -d's mode 700)"
    fi
    "${as[@]}" "$bin/initdb" -D "$dir/data" -U dofs --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
        || { tail -n 20 "$dir/initdb.log" >&2; die "initdb failed in $dir"; }
    POSTGRES_PORT="$(free_port)"
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 \
        -o "-p $POSTGRES_PORT -k $dir -c listen_addresses=127.0.0.1 $*" start >"$dir/pg_ctl.log" 2>&1 \
        || { tail -n 20 "$dir/postgres.log" >&2; die "PostgreSQL did not start in $dir (see $dir/postgres.log)"; }
    "$bin/createdb" -h 127.0.0.1 -p "$POSTGRES_PORT" -U dofs dofs \
        || { postgres_stop "$dir"; die "createdb dofs failed on port $POSTGRES_PORT"; }
    POSTGRES_DIR="$dir"
    # shellcheck disable=SC2034  # read by the scripts that source this file
    POSTGRES_URL="postgres://dofs@127.0.0.1:$POSTGRES_PORT/dofs"
}

# postgres_stop DIR — stops the cluster postgres_start made in DIR (fast shutdown, bounded) and
# removes DIR.
postgres_stop() {
    local dir="$1" bin; bin="$(postgres_bin)"
    [ -n "$dir" ] && [ -d "$dir/data" ] || return 0
    local as=()
    [ "$(id -u)" -eq 0 ] && as=(runuser -u postgres --)
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}

# ---------------------------------------------------------------- dofs mounts

# is_dofs_mounted MNT — true when /proc/mounts lists MNT (absolute) as a dofs FUSE mount.
is_dofs_mounted() {
    awk -v m="$1" '$2 == m && $3 ~ /^fuse(\.dofs)?$/ { found = 1 } END { exit !found }' /proc/mounts
}

# is_mounted MNT — true when anything is mounted on MNT.
is_mounted() { awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/mounts; }

# wait_for_mount MNT SECONDS — waits until MNT is a dofs mount.
wait_for_mount() {
    local mnt="$1" secs="${2:-30}"
    for _ in $(seq 1 $((secs * 10))); do
        is_dofs_mounted "$mnt" && return 0
        sleep 0.1
    done
    return 1
}

# dofs_pid MNT — prints the PID of the dofs process serving MNT (found by its
# command line: `dofs mount ... MNT ...`), or nothing.
dofs_pid() {
    local mnt="$1" d args
    for d in /proc/[0-9]*; do
        [ -r "$d/cmdline" ] || continue
        mapfile -d '' -t args 2>/dev/null <"$d/cmdline" || continue
        [ ${#args[@]} -ge 3 ] || continue
        [ "$(basename "${args[0]}")" = dofs ] || continue
        local a hit_mount=0 hit_mnt=0
        for a in "${args[@]:1}"; do
            [ "$a" = mount ] && hit_mount=1
            [ "$a" = "$mnt" ] && hit_mnt=1
        done
        if [ $hit_mount = 1 ] && [ $hit_mnt = 1 ]; then
            printf '%s\n' "${d#/proc/}"
            return 0
        fi
    done
}

# dofs_mount_bg DOFS_BIN MNT CACHE_DIR LOG_FILE [extra dofs mount args...] —
# mounts in background mode and waits (bounded) for /proc/mounts to show it.
# Sets DOFS_PID (empty if it cannot be found).
dofs_mount_bg() {
    local bin="$1" mnt="$2" cache="$3" logf="$4"
    shift 4
    mkdir -p "$mnt" "$cache"
    if is_mounted "$mnt"; then
        die "$mnt is already a mount point; unmount it first (fusermount3 -u $mnt)"
    fi
    # Each benchmark mount is a node of its own (its own cache), on a socket beside its cache,
    # unless the caller names one.
    local socket_args=(--socket "$cache/node.sock")
    case " $* " in *" --socket "*) socket_args=() ;; esac
    local rc=0
    timeout 60 "$bin" mount "$mnt" --cache-dir "$cache" --log-file "$logf" "${socket_args[@]}" "$@" </dev/null || rc=$?
    if [ "$rc" != 0 ]; then
        [ -f "$logf" ] && { echo "--- last lines of $logf:" >&2; tail -n 20 "$logf" >&2; }
        die "dofs mount $mnt failed (exit $rc)"
    fi
    if ! wait_for_mount "$mnt" 30; then
        [ -f "$logf" ] && { echo "--- last lines of $logf:" >&2; tail -n 20 "$logf" >&2; }
        die "dofs mount returned but $mnt is not in /proc/mounts after 30 s"
    fi
    # shellcheck disable=SC2034  # read by the scripts that source this file
    DOFS_PID="$(dofs_pid "$mnt")"
}

# dofs_unmount MNT [PID] — unmounts MNT (retrying while busy, lazily as a last
# resort) and waits for the daemon PID, if given, to exit; kills it after 15 s.
dofs_unmount() {
    local mnt="$1" pid="${2:-}"
    if is_mounted "$mnt"; then
        for _ in $(seq 1 20); do
            fusermount3 -u "$mnt" 2>/dev/null && break
            is_mounted "$mnt" || break
            sleep 0.25
        done
        if is_mounted "$mnt"; then
            warn "$mnt still busy after 5 s; detaching it lazily (fusermount3 -uz)"
            fusermount3 -uz "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
        fi
    fi
    if [ -n "$pid" ]; then
        for _ in $(seq 1 150); do
            kill -0 "$pid" 2>/dev/null || return 0
            sleep 0.1
        done
        if cmdline_has "$pid" dofs; then
            warn "dofs daemon $pid still running 15 s after unmount; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
}

# ceiling_mount MNT READY_FILE COMMAND... — starts a FUSE ceiling server (bench/fuse-ceiling) in the
# background, its output in READY_FILE, and waits up to 30 s for it to print "ready"; sets CEILING_PID.
ceiling_mount() {
    local mnt="$1" ready="$2"
    shift 2
    mkdir -p "$mnt"
    "$@" >"$ready" 2>&1 &
    CEILING_PID=$!
    for _ in $(seq 1 300); do
        grep -q '^ready' "$ready" 2>/dev/null && return 0
        kill -0 "$CEILING_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$ready" >&2
    die "the FUSE ceiling server did not mount on $mnt"
}

# ceiling_unmount MNT — unmounts the ceiling server's MNT and stops CEILING_PID.
ceiling_unmount() {
    is_mounted "$1" && fusermount3 -u "$1"
    stop_child "$CEILING_PID" "$1"
    CEILING_PID=""
}

# ---------------------------------------------------------------- catalog

# publish_entry DOFS_BIN FILE URL PHF_OUT PHF_URL NAME — runs `dofs publish`
# and prints one catalog entry (JSON) on stdout.
publish_entry() {
    local bin="$1" file="$2" url="$3" phf_out="$4" phf_url="$5" name="$6" out
    out="$("$bin" publish "$file" --url "$url" --phf-out "$phf_out" --phf-url "$phf_url")" \
        || die "dofs publish $file failed"
    python3 - "$name" "$out" <<'EOF' || die "dofs publish printed unexpected output for $file: $out"
import json, sys
name, out = sys.argv[1], sys.argv[2]
meta = json.loads(out)
for key in ("ContentId", "HashOfHashes", "ContentLength", "PieceSize", "PiecesHashFileUrl", "Url"):
    if key not in meta:
        raise SystemExit(f"missing {key}")
print(json.dumps({"name": name, "url": meta["Url"],
                  "integrity": {"PiecesHashFileUrl": meta["PiecesHashFileUrl"],
                                "HashOfHashes": meta["HashOfHashes"]},
                  "_publish": meta}))
EOF
}

# write_catalog PATH ENTRY_JSON... — writes the entries as a JSON array.
write_catalog() {
    local path="$1"; shift
    python3 - "$path" "$@" <<'EOF'
import json, os, sys
path, entries = sys.argv[1], [json.loads(e) for e in sys.argv[2:]]
for e in entries:
    e.pop("_publish", None)
with open(path + ".tmp", "w") as f:
    json.dump(entries, f, indent=2)
    f.write("\n")
os.replace(path + ".tmp", path)
EOF
}
