#!/usr/bin/env bash
# The test command of README (docs/testing.md says what it runs): starts a private RabbitMQ and a local S3 server if they are not up,
# validates the wire schemas, then runs every test target. Broker-disrupting tests (names containing
# "Disruptive": they stop the broker or cut connections) run after the others, one at a time, with the
# 3-node cluster of scripts/cluster.sh for the cluster suite and the private node with a 5 s delivery acknowledgement
# timeout (scripts/broker.sh start-ack-timeout) for the ack-timeout suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
scripts/install-deps.sh
scripts/broker.sh start
scripts/s3-server.sh start
if [ -d schemas ] && ls schemas/*.schema.json >/dev/null 2>&1; then python3 scripts/validate-schemas.py; fi
python3 scripts/check-links.py
# Formatting (swift-format, .swift-format: 120 columns), then a build that treats warnings as errors (Package.swift)
# and refuses an import a target does not declare (the module boundaries of ARCHITECTURE.md).
swift format lint --strict --recursive --parallel Sources Tests Package.swift
swift build --build-tests --explicit-target-dependency-import-check error
scripts/check-deploy.sh
scripts/check-monitoring.sh
# Two shared-broker phases: the unit, AMQP and manager suites, then the end-to-end suites (each starts agents,
# pika clients and rabbitmqctl; with everything at once two cores starve the timing-sensitive manager tests).
swift test --skip Disruptive --skip EndToEndTests
swift test --filter EndToEndTests --skip Disruptive
scripts/cluster.sh start
scripts/broker.sh start-ack-timeout
# The disruptive phase mostly waits on outages. Meanwhile the builds of the phases after it (thread and address
# sanitizers, fuzz targets, the static release binary, the package, the two Debian roots of the image and systemd
# checks) run under SCHED_IDLE: they get only the CPU the tests leave, and the phases below find them built.
idle=(nice -n 19 chrt --idle 0 ionice -c 3 env DMS_BUILD_ONLY=1)
{ "${idle[@]}" scripts/sanitize.sh thread && "${idle[@]}" scripts/sanitize.sh address && "${idle[@]}" scripts/fuzz.sh all \
  && "${idle[@]}" scripts/runtime-image.sh && "${idle[@]}" scripts/check-systemd.sh; } > /tmp/dms-build-ahead.log 2>&1 &
ahead=$!
DMS_TEST_DISRUPTIVE=1 DMS_TEST_CLUSTER=1 swift test --filter Disruptive --no-parallel
wait $ahead || { cat /tmp/dms-build-ahead.log; echo "a build ahead failed"; exit 1; }
# Proof below the tests (issue 17): ThreadSanitizer over the unit, AMQP, manager and end-to-end suites;
# AddressSanitizer with leak checks over the suites that cross into C (rabbitmq-c connect/TLS/publish, posix_spawn,
# pidfd/waitid in the manager suites; libcurl in the Barbican end-to-end suite); each fails on any report. Then
# every fuzz target for 30 s, four at a time (two cores: each gets about half a core).
scripts/sanitize.sh thread
scripts/sanitize.sh address --skip Disruptive --skip EndToEndTests --skip ChaosTests
scripts/sanitize.sh address --filter "WithBarbicanCredentials|BarbicanTLSTests|barbicanReachableOnly"
scripts/fuzz.sh all 30 4
# What ships: the Debian package (lintian, install, run, remove) and the Docker runtime stage's package list
# (a root file system from it with mmdebstrap, the demo's mount and unmount run inside it under chroot).
scripts/check-deb.sh
scripts/runtime-image.sh
# The hardened unit under a booted systemd (systemd-nspawn): mount, restart and adoption, a seccomp refusal named,
# the exposure score.
scripts/check-systemd.sh
echo "all tests passed"
