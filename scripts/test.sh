#!/bin/bash
# scripts/test.sh — build dofs and run all its tests (what CI runs).
#
# 1. installs the missing system packages (apt-get; nothing if all present),
# 2. `swift build` (the integration tests run the dofs binary it makes),
# 3. `swift test`,
# then prints a plain summary. Exit status 0 only if the build and every test passed.
#
# usage: scripts/test.sh [--no-install] [--filter PATTERN] [-- MORE SWIFT TEST ARGS]
# A throwaway PostgreSQL cluster runs for the duration of the tests (the fleet tests share one database
# server between control-plane instances); its URL is DOFS_TEST_POSTGRES_URL.
# Environment:
#   DOFS_TEST_POSTGRES_URL  use this PostgreSQL (a superuser that may CREATE DATABASE) instead
#   DOFS_SCRATCH_PATH   use this build directory instead of .build
#   DOFS_TEST_TIMEOUT   seconds before `swift test` is stopped (default 3600)
#   DOFS_TEST_LOG       where to keep the full output (default: a file in $TMPDIR)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"

install=1
test_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --no-install) install=0; shift ;;
        --filter) test_args+=(--filter "${2:?--filter needs a pattern}"); shift 2 ;;
        --) shift; test_args+=("$@"); break ;;
        -h|--help) usage_from_header "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

timeout_s="${DOFS_TEST_TIMEOUT:-3600}"
logfile="${DOFS_TEST_LOG:-$(mktemp "${TMPDIR:-/tmp}/dofs-test.XXXXXX.log")}"
: >"$logfile"
mapfile -t scratch < <(swift_scratch_args)
cd "$DOFS_ROOT"

t_all="$(now)"
packages_status="skipped (--no-install)"
if [ "$install" = 1 ]; then
    ensure_system_packages "${DOFS_SYSTEM_PACKAGES[@]}"
    ensure_libfuse_passthrough
    packages_status="ok"
fi
use_libfuse_prefix   # a libfuse built for passthrough (`ensure_libfuse_passthrough`), when there is one
fuse_status="ok"
check_fuse || fuse_status="NOT AVAILABLE (integration tests that mount will fail or skip)"
ensure_swift
log "$(swift --version 2>&1 | sed -n 1p)"
[ "${CI:-}" = true ] && log "CI run on $(uname -srm), $(nproc) cores"

# run_step NAME COMMAND... — runs COMMAND with output shown and appended to the log.
run_step() {
    local name="$1"; shift
    log "$name: $*"
    local rc=0
    "$@" 2>&1 </dev/null | tee -a "$logfile" || rc=$?
    # With pipefail the status is the command's unless tee itself failed.
    return "$rc"
}

build_status="not run" test_status="not run" build_s=0 test_s=0
rc=0

t0="$(now)"
if run_step "build" swift build "${scratch[@]}"; then
    build_status="ok"
else
    build_status="FAILED"; rc=1
fi
build_s="$(elapsed "$t0")"

postgres_status="not started"
if [ "$rc" = 0 ] && [ -z "${DOFS_TEST_POSTGRES_URL:-}" ]; then
    pg_dir="$(mktemp -d "${TMPDIR:-/tmp}/dofs-test-pg.XXXXXX")"
    trap 'postgres_stop "$pg_dir"' EXIT
    # A test cluster: durability off (nothing in it outlives the run), room for many connections.
    postgres_start "$pg_dir" -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300
    export DOFS_TEST_POSTGRES_URL="$POSTGRES_URL"
    postgres_status="ok ($POSTGRES_URL)"
elif [ -n "${DOFS_TEST_POSTGRES_URL:-}" ]; then
    postgres_status="given ($DOFS_TEST_POSTGRES_URL)"
fi

if [ "$rc" = 0 ]; then
    t0="$(now)"
    trc=0
    run_step "test" timeout --kill-after=60 "$timeout_s" swift test "${scratch[@]}" "${test_args[@]}" || trc=$?
    test_s="$(elapsed "$t0")"
    case "$trc" in
        0) test_status="ok" ;;
        124|137) test_status="TIMED OUT after ${timeout_s} s"; rc=1 ;;
        *) test_status="FAILED (exit $trc)"; rc=1 ;;
    esac
fi

# ---- summary
xctest_line="$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with [0-9]+ failures?" "$logfile" | tail -n 1 || true)"
testing_line="$(grep -E "Test run with [0-9]+ tests?" "$logfile" | tail -n 1 || true)"
# Compiler and XCTest errors (file.swift:LINE[:COL]: error:), failed XCTest cases, Swift
# Testing issues, crashes, build tool errors. Not the dofs log lines tests print.
failures="$(grep -E '\.swift:[0-9]+(:[0-9]+)?: error: |^Test Case .* failed|✘ Test |Fatal error|^error: |Segmentation fault|Killed' "$logfile" | head -n 20 || true)"
stale="$(awk '$3 ~ /^fuse(\.dofs)?$/ && $1 == "dofs" { print $2 }' /proc/mounts 2>/dev/null || true)"

echo
echo "==================== dofs test summary ===================="
printf '%-16s %s\n' "system packages" "$packages_status"
printf '%-16s %s\n' "FUSE" "$fuse_status"
printf '%-16s %s\n' "PostgreSQL" "$postgres_status"
printf '%-16s %s (%s s)\n' "swift build" "$build_status" "$build_s"
printf '%-16s %s (%s s)\n' "swift test" "$test_status" "$test_s"
if [ -n "$xctest_line" ]; then printf '%-16s %s\n' "XCTest" "${xctest_line#"${xctest_line%%[![:space:]]*}"}"; fi
if [ -n "$testing_line" ] && ! [[ "$testing_line" =~ "with 0 tests" ]]; then printf '%-16s %s\n' "Swift Testing" "Test ${testing_line#*Test }"; fi
if [ -n "$failures" ] && [ "$rc" != 0 ]; then
    echo "first failures:"
    printf '  %s\n' "$failures"
fi
if [ -n "$stale" ]; then
    echo "warning: dofs mounts still present after the tests (a test did not clean up):"
    while IFS= read -r l; do printf '  %s\n' "$l"; done <<<"$stale"
fi
printf '%-16s %s\n' "full log" "$logfile"
printf '%-16s %s s\n' "total" "$(elapsed "$t_all")"
if [ "$rc" = 0 ]; then
    echo "RESULT: PASS"
else
    echo "RESULT: FAIL"
fi
echo "==========================================================="
exit "$rc"
