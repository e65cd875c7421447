#!/usr/bin/env bash
# scripts/fuzz.sh TARGET|all [seconds] [parallel]   (default 30 s each, one at a time)
# Builds the libFuzzer target(s) with -sanitize=fuzzer,address into .build-fuzz (the normal build never declares
# them: Package.swift adds them only under DMS_FUZZ=1) and runs each from its committed seeds (Fuzz/Corpus/TARGET)
# for the given time, `parallel` of them at once. New inputs go to .build-fuzz/corpus, never into the repository.
# A crash (a trap, an ASan report or a broken invariant of FuzzChecks) fails the run and is copied to
# Fuzz/Corpus/TARGET/crash-*, where the normal suites (FuzzCorpusTests) keep it as a regression test once fixed.
# Prints per target: executions, executions per second, coverage (edges) and features.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
all=(request dead-letter config-file transport-url pid-file mountinfo env-file barbican-env)
target=${1:?usage: scripts/fuzz.sh TARGET|all [seconds] [parallel]; targets: ${all[*]}}
seconds=${2:-30}
parallel=${3:-1}
if [ "$target" = all ]; then targets=("${all[@]}"); else targets=("$target"); fi
for t in "${targets[@]}"; do
  [ -d "Fuzz/Corpus/$t" ] || { echo "no target $t (targets: ${all[*]})"; exit 64; }
done
export DMS_FUZZ=1
# One -sanitize=fuzzer,address: swiftc keeps only the last -sanitize flag, so SwiftPM's two flags alone would
# build every module with ASan and no coverage counters (libFuzzer would fuzz blind: "cov" never grows).
flags=(-c debug --scratch-path .build-fuzz --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address)
started=$SECONDS
for t in "${targets[@]}"; do
  swift build "${flags[@]}" --product "fuzz-$t" 2>&1 | grep -E "error|warning: " | grep -v "ld.gold: warning" || true
done
bin_dir="$(swift build "${flags[@]}" --show-bin-path)"
echo "== built ${#targets[@]} fuzz target(s) in $((SECONDS - started)) s"
[ "${DMS_BUILD_ONLY:-}" != 1 ] || exit 0  # build and stop (scripts/test.sh builds ahead)

fuzz_one() {
  local t=$1 work=".build-fuzz/corpus/$1" crashes=".build-fuzz/crashes/$1/" log=".build-fuzz/$1.log" verdict=ok
  rm -rf "$crashes"
  mkdir -p "$work" "$crashes"
  # ASan's leak check at exit is for our code under scripts/sanitize.sh address; here a leak is not a crash.
  # The Swift backtracer is off: its memory server trips ASan after a trap and hides the report.
  if ! SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 "$bin_dir/fuzz-$t" -max_total_time="$seconds" \
       -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$crashes" "$work" "Fuzz/Corpus/$t" \
       > "$log" 2>&1; then
    verdict=CRASH
    for f in "$crashes"*; do [ -f "$f" ] && cp "$f" "Fuzz/Corpus/$t/crash-$(basename "$f" | cut -c7-22)"; done
  fi
  local runs rate cov
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
  [ -n "$cov" ] || { verdict=BLIND; cov="no coverage counters: not instrumented"; }
  printf '%-14s %-5s %10s runs %8s/s  %s  (%s s)\n' "$t" "$verdict" "$runs" "$rate" "$cov" "$seconds"
  [ "$verdict" = ok ] || { grep -E "invariant broken|Fatal error|ERROR: AddressSanitizer|SUMMARY" "$log" | head -5; return 1; }
}

status=0
pids=()
for t in "${targets[@]}"; do
  fuzz_one "$t" &
  pids+=($!)
  if [ "${#pids[@]}" -ge "$parallel" ]; then wait "${pids[0]}" || status=1; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
echo "== fuzzing: $([ $status = 0 ] && echo "no crash" || echo "CRASH") ($((SECONDS - started)) s)"
exit $status
