#!/bin/bash
# scripts/bench-ab.sh BEFORE AFTER [rounds] [suite] [option...]: builds dms-bench and dms-agent (release) at two
# commits and runs `dms-bench SUITE OPTION...` (`--cycles 1500`: more jobs per figure) alternately, BEFORE then AFTER,
# ROUNDS times (default 3, suite all), in one session, so both see the same machine. Each run's output goes to
# .build-ab/<commit>-<round>.txt; the figures' lines are printed side by side at the end. As root, from the
# repository root, with the test broker up (scripts/broker.sh start).
set -euo pipefail
before=${1:?usage: scripts/bench-ab.sh BEFORE AFTER [rounds] [suite] [option...]}
after=${2:?usage: scripts/bench-ab.sh BEFORE AFTER [rounds] [suite] [option...]}
rounds=${3:-3}
suite=${4:-all}
shift $(( $# < 4 ? $# : 4 ))
root=$(pwd)
out="$root/.build-ab"
mkdir -p "$out"
for rev in "$before" "$after"; do
    sha=$(git rev-parse --short "$rev")
    tree="$out/tree-$sha"
    [ -d "$tree" ] || git worktree add --detach "$tree" "$sha" > /dev/null
    (cd "$tree" && swift build -c release --product dms-bench > /dev/null && swift build -c release --product dms-agent > /dev/null)
done
for round in $(seq 1 "$rounds"); do
    for rev in "$before" "$after"; do
        sha=$(git rev-parse --short "$rev")
        # The repository root of the run is the commit's own tree: its scripts/ (the fake fuse) are the ones it knew.
        (cd "$out/tree-$sha" && .build/release/dms-bench "$suite" "$@" > "$out/$sha-$round.txt" 2>&1) || echo "run $sha $round failed"
        echo "round $round $sha done"
    done
done
for rev in "$before" "$after"; do
    sha=$(git rev-parse --short "$rev")
    echo "== $rev ($sha)"
    for f in "$out/$sha"-*.txt; do echo "-- $(basename "$f")"; grep -E '  +[0-9.]' "$f" || true; done
done
