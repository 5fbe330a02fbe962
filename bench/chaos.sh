#!/bin/bash
# bench/chaos.sh — the fault mix of issue 9, for a bounded time: does dofs ever serve a wrong byte?
#
# On loopback, against the fault-injecting origin of the integration tests
# (Tests/IntegrationTests/Fixtures/fault_origin.py, mode "chaos"):
#   phase 1  faults + kills: every content GET fails with probability 20% (truncated body,
#            wrong Content-Range, HTTP 500, flipped bytes, or a 2 s stall), random reads
#            (4 KiB to 2 MiB) run all the time, and the daemon is SIGKILLed --kills times at
#            random moments and remounted on the same cache (capped, so pieces keep moving);
#   phase 2  full disk: the cache on a 6 MiB tmpfs, random reads go on;
#   end      `dofs verify` on the phase-1 cache, and a look for temporary files left behind.
# Every byte read is compared with the original file. Prints wrong bytes (must be 0), EIO
# count, other errors (reads cut by a kill), the slowest read, and the verify result; exits 1
# when a wrong byte was served, verify found damage, or a temporary file survived a start.
#
# usage: bench/chaos.sh [--duration SECONDS] [--kills N] [--deadline SECONDS] [--dir DIR] [--keep]
#   --duration  seconds of phase 1 (default 120; phase 2 runs a quarter of it)
#   --kills     SIGKILLs during phase 1 (default 20)
#   --deadline  --read-deadline of the mounts (default 5)
#   --dir DIR   work directory (default: a new /tmp/dofs-chaos.XXXXXX, deleted at the end)
#   --keep      keep the work directory
# Environment: DOFS_BIN (use this binary, skip the build). Needs root (FUSE, tmpfs).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
source "$HERE/../scripts/lib.sh"

duration=120 kills=20 deadline=5 work="" keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) duration="${2:?--duration needs seconds}"; shift 2 ;;
        --kills)    kills="${2:?--kills needs a number}"; shift 2 ;;
        --deadline) deadline="${2:?--deadline needs seconds}"; shift 2 ;;
        --dir)      work="${2:?--dir needs a directory}"; shift 2 ;;
        --keep)     keep=1; shift ;;
        -h|--help)  usage_from_header "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[ "$(id -u)" -eq 0 ] || die "run as root (FUSE mounts and a tmpfs)"
check_fuse
build_dofs release

[ -n "$work" ] || work="$(mktemp -d /tmp/dofs-chaos.XXXXXX)"
mkdir -p "$work"/{docroot,logs,mnt,mnt-full,cache,full}
ORIGIN_PID="" DOFS_PID="" TMPFS=0
cleanup() {
    dofs_unmount "$work/mnt" "$DOFS_PID"
    dofs_unmount "$work/mnt-full"
    [ "$TMPFS" = 1 ] && umount -l "$work/full" 2>/dev/null || true
    [ -n "$ORIGIN_PID" ] && kill -TERM "$ORIGIN_PID" 2>/dev/null || true
    if [ "$keep" = 1 ]; then note "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- origin and content
log "content: 4 files of 8 MiB + 1 byte"
for i in 1 2 3 4; do make_random_file "$work/docroot/f$i.bin" $((8 * 1048576 + 1)) "chaos-$i"; done
python3 -u "$DOFS_ROOT/Tests/IntegrationTests/Fixtures/fault_origin.py" --root "$work/docroot" \
    --log "$work/logs/origin.log" >"$work/logs/origin.out" 2>&1 &
ORIGIN_PID=$!
for _ in $(seq 1 100); do grep -q '^PORT ' "$work/logs/origin.out" 2>/dev/null && break; sleep 0.1; done
port="$(awk '/^PORT /{print $2}' "$work/logs/origin.out")"
[ -n "$port" ] || die "the fault origin did not start: $(cat "$work/logs/origin.out")"
entries=()
for i in 1 2 3 4; do
    entries+=("$(publish_entry "$DOFS_BIN" "$work/docroot/f$i.bin" \
        "http://127.0.0.1:$port/chaos/f$i.bin?rate=0.2&stall=2" "$work/docroot/f$i.bin.phf" \
        "http://127.0.0.1:$port/ok/f$i.bin.phf" "f$i.bin")")
done
write_catalog "$work/catalog.json" "${entries[@]}"

# ---------------------------------------------------------------- the reader
# reader MNT SECONDS OUT — random preads on every file of MNT for SECONDS, compared with the
# originals; writes its counts as JSON to OUT.
reader() {
    python3 - "$1" "$2" "$3" "$work/docroot" <<'PY'
import errno, json, os, random, sys, time
mnt, seconds, out, docroot = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
names = ["f%d.bin" % i for i in range(1, 5)]
original = {n: open(os.path.join(docroot, n), "rb").read() for n in names}
stats = {"reads": 0, "bytes": 0, "wrong_bytes": 0, "short_reads": 0, "eio": 0, "other_errors": 0,
         "slowest_read_s": 0.0, "slowest_eio_s": 0.0}
end = time.monotonic() + seconds
rng = random.Random()
while time.monotonic() < end:
    name = rng.choice(names)
    data = original[name]
    length = rng.choice([4096, 65536, 1 << 20, 2 << 20])
    offset = rng.randrange(0, len(data))
    t0 = time.monotonic()
    try:
        fd = os.open(os.path.join(mnt, name), os.O_RDONLY)
        try:
            got = os.pread(fd, length, offset)
        finally:
            os.close(fd)
        took = time.monotonic() - t0
        want = data[offset:offset + length]
        stats["reads"] += 1
        stats["bytes"] += len(got)
        stats["wrong_bytes"] += sum(1 for a, b in zip(got, want) if a != b) + max(0, len(got) - len(want))
        # A read cut short by an error on a later page returns the bytes before it (POSIX allows it).
        if len(got) < len(want):
            stats["short_reads"] += 1
        stats["slowest_read_s"] = max(stats["slowest_read_s"], took)
    except OSError as e:
        took = time.monotonic() - t0
        if e.errno == errno.EIO:
            stats["eio"] += 1
            stats["slowest_eio_s"] = max(stats["slowest_eio_s"], took)
        else:
            stats["other_errors"] += 1   # ENOTCONN/ENOENT while the daemon is dead
            time.sleep(0.05)
with open(out, "w") as f:
    json.dump(stats, f)
PY
}

# ---------------------------------------------------------------- phase 1: faults + kills
mount_args=(--catalog "$work/catalog.json" --download-mode 99 --read-deadline "$deadline"
            --cache-max-size $((16 * 1048576)))
log "phase 1: ${duration} s of random reads, 20% origin faults, $kills SIGKILLs"
dofs_mount_bg "$DOFS_BIN" "$work/mnt" "$work/cache" "$work/logs/dofs.log" "${mount_args[@]}"
reader "$work/mnt" "$duration" "$work/phase1.json" &
reader_pid=$!
t0="$(now)"
leftovers_seen=0
for k in $(seq 1 "$kills"); do
    # Spread the kills over the phase, each at a random moment of its slot.
    slot=$(awk -v d="$duration" -v n="$kills" 'BEGIN { srand(); printf "%.2f\n", d / n * (0.3 + 0.6 * rand()) }')
    sleep "$slot"
    [ -n "$DOFS_PID" ] && kill -KILL "$DOFS_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$DOFS_PID" 2>/dev/null || break; sleep 0.1; done
    fusermount3 -uz "$work/mnt" 2>/dev/null || umount -l "$work/mnt" 2>/dev/null || true
    if [ -n "$(ls -A "$work/cache/pieces/tmp" 2>/dev/null)" ] || ls "$work/cache/metadata" 2>/dev/null | grep -q '\.tmp-'; then
        leftovers_seen=$((leftovers_seen + 1))
    fi
    dofs_mount_bg "$DOFS_BIN" "$work/mnt" "$work/cache" "$work/logs/dofs.log" "${mount_args[@]}"
done
left=$(awk -v d="$duration" -v e="$(elapsed "$t0")" 'BEGIN { r = d - e; printf "%d\n", (r > 0 ? r + 1 : 1) }')
for _ in $(seq 1 $((left + deadline + 30))); do kill -0 "$reader_pid" 2>/dev/null || break; sleep 1; done
wait "$reader_pid" || true
# One last crash, then a start with no reader: whatever the crash left must be gone.
kill -KILL "$DOFS_PID" 2>/dev/null || true
for _ in $(seq 1 50); do kill -0 "$DOFS_PID" 2>/dev/null || break; sleep 0.1; done
fusermount3 -uz "$work/mnt" 2>/dev/null || umount -l "$work/mnt" 2>/dev/null || true
dofs_mount_bg "$DOFS_BIN" "$work/mnt" "$work/cache" "$work/logs/dofs.log" "${mount_args[@]}"
temp_after_start="$( { ls "$work/cache/pieces/tmp" 2>/dev/null; ls "$work/cache/metadata" 2>/dev/null | grep '\.tmp-' || true; } | wc -l)"
dofs_unmount "$work/mnt" "$DOFS_PID"
DOFS_PID=""

# ---------------------------------------------------------------- phase 2: full disk
full_seconds=$((duration / 4 > 10 ? duration / 4 : 10))
log "phase 2: ${full_seconds} s of random reads with the cache on a full 6 MiB disk"
mount -t tmpfs -o size=6m tmpfs "$work/full" && TMPFS=1
dofs_mount_bg "$DOFS_BIN" "$work/mnt-full" "$work/full/cache" "$work/logs/dofs-full.log" \
    --catalog "$work/catalog.json" --download-mode 99 --read-deadline "$deadline"
full_pid="$DOFS_PID"
reader "$work/mnt-full" "$full_seconds" "$work/phase2.json"
dofs_unmount "$work/mnt-full" "$full_pid"
store_lines=$(grep -c 'cannot store a piece' "$work/logs/dofs-full.log" || true)

# ---------------------------------------------------------------- verdict
verify_rc=0
verify_out="$("$DOFS_BIN" verify --cache-dir "$work/cache" 2>&1)" || verify_rc=$?
python3 - "$work/phase1.json" "$work/phase2.json" <<'PY'
import json, sys
p1, p2 = (json.load(open(p)) for p in sys.argv[1:3])
for name, s in (("faults+kills", p1), ("full disk", p2)):
    print("%-13s reads %6d  bytes %11d  wrong bytes %d  EIO %d  short reads %d  other errors %d  slowest read %.2f s  slowest EIO %.2f s"
          % (name, s["reads"], s["bytes"], s["wrong_bytes"], s["eio"], s["short_reads"], s["other_errors"],
             s["slowest_read_s"], s["slowest_eio_s"]))
print("WRONG BYTES: %d" % (p1["wrong_bytes"] + p2["wrong_bytes"]))
PY
echo "kills: $kills (temporary files found right after $leftovers_seen of them; $temp_after_start left after the last start)"
echo "full disk: $store_lines 'cannot store a piece' log line(s)"
echo "verify: exit $verify_rc: $(printf '%s' "$verify_out" | tail -n 1)"
wrong=$(python3 -c 'import json,sys; print(sum(json.load(open(p))["wrong_bytes"] for p in sys.argv[1:]))' "$work/phase1.json" "$work/phase2.json")
[ "$wrong" = 0 ] && [ "$verify_rc" = 0 ] && [ "$temp_after_start" = 0 ] || exit 1
