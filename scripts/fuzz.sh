#!/usr/bin/env bash
# scripts/fuzz.sh TARGET|all [seconds]   (default 30 s each)
# Builds the libFuzzer target(s) with -sanitize=fuzzer,address into .build-fuzz (the normal build never declares
# them: Package.swift adds them only under DMS_FUZZ=1) and runs each from its committed seeds (Fuzz/Corpus/TARGET)
# for the given time. New inputs go to .build-fuzz/corpus, never into the repository. A crash (a trap, an ASan
# report or a broken invariant of FuzzChecks) fails the run and is copied to Fuzz/Corpus/TARGET/crash-*, where the
# normal suites (FuzzCorpusTests) keep it as a regression test once fixed.
# Prints per target: executions, executions per second, coverage (edges) and features.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
all=(request dead-letter config-file transport-url pid-file mountinfo env-file barbican-env)
target=${1:?usage: scripts/fuzz.sh TARGET|all [seconds]; targets: ${all[*]}}
seconds=${2:-30}
if [ "$target" = all ]; then targets=("${all[@]}"); else targets=("$target"); fi
export DMS_FUZZ=1
# One -sanitize=fuzzer,address: swiftc keeps only the last -sanitize flag, so SwiftPM's two flags alone would
# build every module with ASan and no coverage counters (libFuzzer would fuzz blind: "cov" never grows).
flags=(-c debug --scratch-path .build-fuzz --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address)
status=0
for t in "${targets[@]}"; do
  [ -d "Fuzz/Corpus/$t" ] || { echo "no target $t (targets: ${all[*]})"; exit 64; }
  swift build "${flags[@]}" --product "fuzz-$t" 2>&1 | grep -E "error|warning: " | grep -v "ld.gold: warning" || true
  bin="$(swift build "${flags[@]}" --show-bin-path)/fuzz-$t"
  work=".build-fuzz/corpus/$t"
  crashes=".build-fuzz/crashes/$t/"
  rm -rf "$crashes"
  mkdir -p "$work" "$crashes"
  log=".build-fuzz/$t.log"
  # ASan's leak check at exit is for our code under scripts/sanitize.sh address; here a leak is not a crash.
  if SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 "$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$crashes" "$work" "Fuzz/Corpus/$t" > "$log" 2>&1; then
    verdict=ok
  else
    verdict=CRASH
    status=1
    for f in "$crashes"*; do [ -f "$f" ] && cp "$f" "Fuzz/Corpus/$t/crash-$(basename "$f" | cut -c7-22)"; done
    grep -E "invariant broken|Fatal error|ERROR: AddressSanitizer|SUMMARY" "$log" | head -5
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
  [ -n "$cov" ] || { echo "$t: no coverage counters: the target is not instrumented"; status=1; }
  printf '%-14s %-5s %10s runs %8s/s  %s  (%s s)\n' "$t" "$verdict" "$runs" "$rate" "$cov" "$seconds"
done
exit $status
