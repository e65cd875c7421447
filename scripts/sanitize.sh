#!/usr/bin/env bash
# scripts/sanitize.sh thread|address [swift test filter…]
# Builds everything with ThreadSanitizer or AddressSanitizer (+LeakSanitizer) into a build directory of its own,
# runs the unit, AMQP, manager and end-to-end suites against the real broker (the agents the end-to-end suites
# start are the instrumented binary, and get the same options), and fails on any report: of the test processes,
# of every agent, of every helper. Suppressions (scripts/sanitizers/) may name only third-party code.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
kind=${1:?usage: scripts/sanitize.sh thread|address [filter]}
shift
case "$kind" in thread | address) ;; *) echo "thread or address, not $kind"; exit 64 ;; esac
scratch=.build-$kind
reports=/tmp/dms-sanitize-$kind
# --one-file-system: a FUSE mount a killed test left below /tmp/dms-test (bindfs serves a system directory read-write)
# must stop the run, never be emptied through.
# DMS_BUILD_ONLY=1: build and stop (scripts/test.sh builds ahead while other tests run: nothing else is touched).
if [ "${DMS_BUILD_ONLY:-}" != 1 ]; then
    rm -rf --one-file-system "$reports" "$reports.log" /tmp/dms-test
    mkdir -p "$reports"
fi
supp="$PWD/scripts/sanitizers"
# Reports of every instrumented process go to files: the agents' stderr is their log, not this script's.
export TSAN_OPTIONS="log_path=$reports/report halt_on_error=0 second_deadlock_stack=1 suppressions=$supp/tsan.supp"
export ASAN_OPTIONS="log_path=$reports/report detect_leaks=1 halt_on_error=0 detect_stack_use_after_return=0"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp print_suppressions=0"
started=$SECONDS
swift build --build-tests --sanitize="$kind" --scratch-path "$scratch" 2>&1 | grep -E "error|warning: |Compiling|Build" | tail -3
echo "== built with --sanitize=$kind in $((SECONDS - started)) s"
[ "${DMS_BUILD_ONLY:-}" != 1 ] || exit 0  # a failed build already stopped the script (pipefail)
status=0
run() {
    local phase_start=$SECONDS
    # A failing test fails the run; a report fails it below, whatever the tests said.
    swift test --skip-build --sanitize="$kind" --scratch-path "$scratch" "$@" > "$reports.log" 2>&1 || status=1
    grep -aE "^(✘|✔ Test run|✘ Test run)|recorded an issue" "$reports.log" | cut -c1-300 || true
    echo "== swift test $* in $((SECONDS - phase_start)) s"
}
if [ $# -gt 0 ]; then
    run "$@"
else
    run --skip Disruptive --skip EndToEndTests --skip ChaosTests
    run --filter EndToEndTests --skip Disruptive
fi
# Reports: the report files, and any that reached a log anyway (an agent started with a clean environment).
found=$(ls "$reports" 2>/dev/null | wc -l)
stray=$(grep -rlE "WARNING: ThreadSanitizer|ERROR: AddressSanitizer|ERROR: LeakSanitizer" /tmp/dms-test 2>/dev/null | wc -l || true)
if [ "$found" -gt 0 ] || [ "$stray" -gt 0 ]; then
    echo "== $kind sanitizer: $found report file(s), $stray log(s) with a report"
    for f in "$reports"/*; do [ -f "$f" ] && { echo "--- $f"; head -60 "$f"; }; done
    grep -rlE "WARNING: ThreadSanitizer|ERROR: AddressSanitizer|ERROR: LeakSanitizer" /tmp/dms-test 2>/dev/null | head -5
    status=1
else
    echo "== $kind sanitizer: zero reports ($((SECONDS - started)) s)"
fi
exit $status
