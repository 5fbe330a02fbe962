#!/bin/bash
# scripts/quickstart.sh — see dofs work end to end on one machine.
#
# It installs the system packages dofs needs (only the missing ones) and, where the
# system's libfuse is older than 3.16, libfuse 3.17.2 for passthrough (scripts/lib.sh),
# builds dofs in release mode, makes sample content, serves it from an nginx origin on
# 127.0.0.1, publishes it (pieces hash files + catalog), mounts it with dofs,
# reads it back, checks every byte with sha256sum, shows the dofs xattrs and a
# second (cached) read. By default the mount and the origin keep running so you
# can look around; `scripts/quickstart.sh --stop` stops them.
#
# usage: scripts/quickstart.sh [--unmount] [--dir DIR] [--port PORT] [--size-mib N] [--debug]
#        scripts/quickstart.sh --stop [--dir DIR] [--purge]
#   --unmount     clean up (unmount, stop nginx) at the end instead of leaving them running
#   --stop        stop a quickstart left running: unmount and stop its nginx (by PID)
#   --purge       with --stop: also delete the work directory
#   --dir DIR     work directory (default $DOFS_QUICKSTART_DIR or /tmp/dofs-quickstart)
#   --port PORT   origin port on 127.0.0.1 (default: a free one)
#   --size-mib N  size of the random sample file (default 64)
#   --debug       build and use the debug binary instead of release
# Environment: DOFS_BIN (use this binary, skip the build), DOFS_SCRATCH_PATH.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"

mode=run keep=1 purge=0 port="" size_mib=64 config=release
work="${DOFS_QUICKSTART_DIR:-/tmp/dofs-quickstart}"
while [ $# -gt 0 ]; do
    case "$1" in
        --unmount)  keep=0; shift ;;
        --stop)     mode=stop; shift ;;
        --purge)    purge=1; shift ;;
        --dir)      work="${2:?--dir needs a directory}"; shift 2 ;;
        --port)     port="${2:?--port needs a number}"; shift 2 ;;
        --size-mib) size_mib="${2:?--size-mib needs a number}"; shift 2 ;;
        --debug)    config=debug; shift ;;
        -h|--help)  usage_from_header "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
if ! [[ "$size_mib" =~ ^[0-9]+$ ]] || [ "$size_mib" -lt 1 ]; then die "--size-mib needs a positive whole number"; fi
[ -z "$port" ] || [[ "$port" =~ ^[0-9]+$ ]] || die "--port needs a number"
mkdir -p "$work"
work="$(cd "$work" && pwd)"

state="$work/quickstart.state"   # what --stop needs: mount point, daemon and nginx PIDs
mnt="$work/mnt"
origin="$work/origin"
cache="$work/cache"
nginx_prefix="$work/nginx"
dofs_log="$work/dofs.log"
catalog="$work/catalog.json"

# stop_recorded — stops what the state file says is running (used by --stop,
# by the failure trap and before a new run).
stop_recorded() {
    [ -f "$state" ] || return 0
    local s_mnt="" s_dofs_pid="" s_nginx_pid=""
    # shellcheck disable=SC1090
    source "$state"
    if [ -n "$s_mnt" ] && is_mounted "$s_mnt"; then
        log "unmounting $s_mnt"
        dofs_unmount "$s_mnt" "$s_dofs_pid"
    elif [ -n "$s_dofs_pid" ] && kill -0 "$s_dofs_pid" 2>/dev/null; then
        dofs_unmount "$s_mnt" "$s_dofs_pid"
    fi
    if [ -n "$s_nginx_pid" ] && kill -0 "$s_nginx_pid" 2>/dev/null; then
        log "stopping the nginx origin (PID $s_nginx_pid)"
        nginx_stop "$s_nginx_pid"
    fi
    rm -f "$state"
}

save_state() {
    {
        printf 's_mnt=%q\n' "$mnt"
        printf 's_dofs_pid=%q\n' "${DOFS_PID:-}"
        printf 's_nginx_pid=%q\n' "${NGINX_PID:-}"
        printf 's_port=%q\n' "${port:-}"
    } >"$state"
}

if [ "$mode" = stop ]; then
    if [ ! -f "$state" ]; then
        log "no running quickstart recorded in $work"
    else
        stop_recorded
        log "stopped"
    fi
    if [ "$purge" = 1 ]; then
        is_mounted "$mnt" && die "$mnt is still mounted; not deleting $work"
        rm -rf "$work"
        log "deleted $work"
    fi
    exit 0
fi

# ---- failure handling: on any error, show what dofs said and clean up.
finished=0
on_exit() {
    local rc=$?
    if [ "$finished" = 1 ]; then return; fi
    trap - EXIT INT TERM
    echo >&2
    if [ -f "$dofs_log" ]; then
        echo "--- last 30 lines of $dofs_log:" >&2
        tail -n 30 "$dofs_log" >&2 || true
    fi
    log "quickstart FAILED (exit $rc); cleaning up"
    save_state 2>/dev/null || true
    stop_recorded || true
    exit "$rc"
}
trap_cleanup on_exit

fail() { die "CHECK FAILED: $*"; }

t_start="$(now)"

# ---- 0. a previous run still going? stop it first.
if [ -f "$state" ]; then
    log "a previous quickstart is still running in $work; stopping it first"
    stop_recorded
fi
if is_mounted "$mnt"; then
    dofs_unmount "$mnt" "$(dofs_pid "$mnt")"
fi

# ---- 1. system packages, FUSE, build
ensure_system_packages "${DOFS_SYSTEM_PACKAGES[@]}"
ensure_libfuse_passthrough
check_fuse || die "FUSE is not usable on this machine"
build_dofs "$config"
"$DOFS_BIN" --help >/dev/null 2>&1 || warn "'$DOFS_BIN --help' failed"

# ---- 2. sample content
log "making sample content in $origin"
rm -rf "$origin" "$cache"
mkdir -p "$origin" "$cache" "$mnt"
big=sample-${size_mib}MiB.bin
make_random_file "$origin/$big" $((size_mib * 1048576)) dofs-quickstart
{
    echo "Hello from dofs!"
    echo
    echo "This file was served by nginx on 127.0.0.1, fetched by dofs in 1 MiB"
    echo "pieces over HTTP Range requests, checked against its pieces hash file"
    echo "(SHA-256 per piece) and kept in the piece cache at $cache."
    date -u '+Generated %Y-%m-%dT%H:%M:%SZ'
} >"$origin/hello.txt"
for f in "$origin"/*; do note "$(basename "$f") ($(stat -c %s "$f") bytes)"; done

# ---- 3. origin
[ -n "$port" ] || port="$(free_port)"
log "starting the nginx origin on http://127.0.0.1:$port/ (serving $origin)"
nginx_start "$origin" "$nginx_prefix" "$port"
save_state
note "nginx PID $NGINX_PID, access log $nginx_prefix/logs/access.log"
base="http://127.0.0.1:$port"
code="$(curl -sS -o /dev/null -w '%{http_code}' -r 0-0 "$base/$big")" || fail "origin not reachable"
[ "$code" = 206 ] || fail "origin answered HTTP $code to a Range request (want 206)"

# ---- 4. publish and catalog
log "publishing (dofs publish) and writing $catalog"
entries=()
for f in "$big" hello.txt; do
    entry="$(publish_entry "$DOFS_BIN" "$origin/$f" "$base/$f" "$origin/$f.phf" "$base/$f.phf" "$f")" \
        || fail "dofs publish $f"
    entries+=("$entry")
    python3 -c 'import json,sys; m=json.loads(sys.argv[1])["_publish"]; print("    %-22s %s  %d bytes, %d-byte pieces" % (sys.argv[2], m["ContentId"], m["ContentLength"], m["PieceSize"]))' "$entry" "$f" >&2
done
write_catalog "$catalog" "${entries[@]}"
# Also register it with the control plane `dofs mount` embeds (its registry folder), so it opens
# by content ID and, verified, by URL.
cp_data="$work/control-plane"
published="$("$DOFS_BIN" publish "$origin/$big" --url "$base/$big" --phf-out "$origin/$big.phf" \
    --local --control-plane-data "$cp_data")" || fail "dofs publish --local $big"
content_id="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ContentId"])' "$published")"
note "registered $big as $content_id in $cp_data"

# ---- 5. mount
mount_args=(--catalog "$catalog" --control-plane-data "$cp_data" --peer-listen 127.0.0.1:0)
log "mounting: dofs mount $mnt --cache-dir $cache ${mount_args[*]} --log-file $dofs_log"
log_before_mount="$(log_lines "$nginx_prefix/logs/access.log")"
dofs_mount_bg "$DOFS_BIN" "$mnt" "$cache" "$dofs_log" "${mount_args[@]}"
save_state
note "mounted ($(awk -v m="$mnt" '$2 == m { print $1 " on " $2 " type " $3 " (" $4 ")" }' /proc/mounts)); daemon PID ${DOFS_PID:-unknown}"

# ---- 6. look and read
log "ls -la $mnt"
ls -la "$mnt" || fail "cannot list $mnt"
for f in "$big" hello.txt; do
    [ -f "$mnt/$f" ] || fail "$mnt/$f is missing"
    want="$(stat -c %s "$origin/$f")" got="$(stat -c %s "$mnt/$f")"
    [ "$want" = "$got" ] || fail "$mnt/$f has size $got, want $want"
done

log "cat $mnt/hello.txt"
cat "$mnt/hello.txt" || fail "cannot read $mnt/hello.txt"

off=$(( (size_mib * 1048576) / 2 + 12345 ))
log "random access: 100000 bytes at offset $off of $big"
cmp <(dd if="$mnt/$big" bs=64K iflag=skip_bytes,count_bytes skip="$off" count=100000 status=none) \
    <(dd if="$origin/$big" bs=64K iflag=skip_bytes,count_bytes skip="$off" count=100000 status=none) \
    || fail "bytes at offset $off of $mnt/$big differ from the original"

log "first read of $big (pieces come from the origin)"
t0="$(now)"
cat "$mnt/$big" >/dev/null || fail "read error on $mnt/$big"
t1="$(elapsed "$t0")"
note "$(human_bytes $((size_mib * 1048576))) in ${t1} s = $(mib_per_s $((size_mib * 1048576)) "$t1") MiB/s"

log "sha256sum: mounted files vs the originals"
for f in "$big" hello.txt; do
    a="$(sha256sum <"$origin/$f" | cut -d' ' -f1)"
    b="$(sha256sum <"$mnt/$f" | cut -d' ' -f1)" || fail "read error on $mnt/$f"
    if [ "$a" = "$b" ]; then
        printf '    OK        %s  %s\n' "$b" "$f"
    else
        printf '    MISMATCH  %s  %s (original %s)\n' "$b" "$f" "$a"
        fail "$mnt/$f does not match the original"
    fi
done

by_url="$mnt/by-url/$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$base/$big")"
log "the same content by ID and by URL, through the embedded control plane"
want="$(sha256sum <"$origin/$big" | cut -d' ' -f1)"
for p in "$mnt/by-id/$content_id" "$by_url"; do
    got="$(sha256sum <"$p" | cut -d' ' -f1)" || fail "read error on $p"
    [ "$got" = "$want" ] || fail "$p does not match the original"
    m="$(getfattr --only-values -n user.dofs.mode "$p" 2>/dev/null || true)"
    [ "$m" = verified ] || fail "user.dofs.mode of $p is '$m', want 'verified'"
    printf '    OK        %s  %s (%s)\n' "$got" "${p#"$mnt"/}" "$m"
done

log "xattrs: getfattr -d -m user.dofs"
for f in "$big" hello.txt; do
    (cd "$mnt" && getfattr -d -m user.dofs "$f") || fail "getfattr on $mnt/$f"
done
pieces="$(getfattr --only-values -n user.dofs.pieces "$mnt/$big" 2>/dev/null || true)"
mode_x="$(getfattr --only-values -n user.dofs.mode "$mnt/$big" 2>/dev/null || true)"
[ "$mode_x" = verified ] || fail "user.dofs.mode of $big is '$mode_x', want 'verified'"
if [ -n "$pieces" ]; then
    have="${pieces%%/*}" total="${pieces##*/}"
    [ "$have" = "$total" ] || fail "user.dofs.pieces of $big is $pieces after a full read, want all pieces"
fi

origin_after_first="$(origin_bytes "$nginx_prefix/logs/access.log" "$log_before_mount")"
note "origin sent $(human_bytes "$origin_after_first") in $(origin_requests "$nginx_prefix/logs/access.log" "$log_before_mount") requests since the mount"

log "cached read: unmount, mount again (same cache), read $big again"
dofs_unmount "$mnt" "${DOFS_PID:-}"
dofs_mount_bg "$DOFS_BIN" "$mnt" "$cache" "$dofs_log" "${mount_args[@]}"
save_state
lines_before_second="$(log_lines "$nginx_prefix/logs/access.log")"
t0="$(now)"
cat "$mnt/$big" >/dev/null || fail "read error on $mnt/$big"
t2="$(elapsed "$t0")"
note "$(human_bytes $((size_mib * 1048576))) in ${t2} s = $(mib_per_s $((size_mib * 1048576)) "$t2") MiB/s (first read: ${t1} s)"
second_origin="$(origin_bytes "$nginx_prefix/logs/access.log" "$lines_before_second")"
note "origin bytes during the cached read: $second_origin"
(cd "$mnt" && getfattr -d -m '^user[.]dofs[.](sources|pieces)$' "$big") || true
[ "$second_origin" = 0 ] || fail "the cached read fetched $second_origin bytes from the origin; want 0 (every piece was in the cache)"
grep -qiE '\b(fatal|panic)\b' "$dofs_log" 2>/dev/null && warn "dofs log mentions fatal/panic: see $dofs_log"

finished=1
trap - EXIT INT TERM
save_state

echo
log "quickstart OK in $(elapsed "$t_start") s: every byte read through dofs matched the original"
if [ "$keep" = 0 ]; then
    stop_recorded
    log "cleaned up (unmounted $mnt, stopped nginx). Work files are in $work."
    exit 0
fi
cat <<EOF

Left running for you to explore:
  mount   $mnt   (dofs daemon PID ${DOFS_PID:-?}, log $dofs_log)
  origin  $base/   (nginx PID $NGINX_PID, access log $nginx_prefix/logs/access.log)
  cache   $cache
Try:
  ls -la $mnt
  getfattr -d -m user.dofs $mnt/$big
  dd if=$mnt/$big of=/dev/null bs=1M
  tail -f $dofs_log
Stop everything (unmounts, then stops nginx by PID):
  $HERE/quickstart.sh --stop${work:+ --dir $work}
  (add --purge to delete $work too)
EOF
