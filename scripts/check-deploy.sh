#!/usr/bin/env bash
# What can be checked of docker/ here (no Docker engine on these machines): the compose file's
# structure with a YAML parser, the Dockerfile's stages, and the systemd unit with systemd-analyze.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 - <<'PY'
import yaml
c = yaml.safe_load(open("docker/compose.yaml"))
s = c["services"]
assert set(s) >= {"rabbitmq", "s3", "dms-agent"}, s.keys()
a = s["dms-agent"]
assert "/dev/fuse:/dev/fuse" in a["devices"] and "SYS_ADMIN" in a["cap_add"]
# The container's capabilities are the unit's bounding set (docs/operations.md), nothing more.
unit_caps = next(l for l in open("docker/dms-agent.service") if l.startswith("CapabilityBoundingSet="))
assert a["cap_drop"] == ["ALL"] and {"CAP_" + c for c in a["cap_add"]} == set(unit_caps.split("=", 1)[1].split()), a
assert "no-new-privileges:true" in a["security_opt"]
vols = {v["target"]: v for v in a["volumes"]}
assert "/run/dms" in vols and vols["/var/lib/trilio/triliovault-mounts"]["bind"]["propagation"] == "rshared"
d = open("docker/Dockerfile").read()
packages = [l.strip() for l in open("docker/runtime-packages.txt") if l.strip() and not l.startswith("#")]
assert d.count("FROM ") == 2 and "docker/runtime-packages.txt" in d, "the runtime stage installs the shared package list"
assert {"librabbitmq4", "libcurl4", "fuse3", "s3fs"} <= set(packages), packages
print("docker/compose.yaml and docker/Dockerfile: structure ok")
PY
unit=docker/dms-agent.service
grep -q '^KillMode=process' $unit && grep -q '^RuntimeDirectoryPreserve=yes' $unit && grep -q '^Restart=always' $unit
if command -v systemd-analyze >/dev/null; then
  bin=$(swift build --show-bin-path 2>/dev/null)/dms-agent
  tmp=$(mktemp -d); sed "s|/usr/bin/dms-agent|$bin|" $unit > "$tmp/dms-agent.service"
  if out=$(systemd-analyze verify "$tmp/dms-agent.service" 2>&1) && [ -z "$out" ]; then echo "systemd-analyze verify: ok"
  else echo "$out"; echo "systemd-analyze verify reported the above"; fi
  rm -rf "$tmp"
else
  echo "systemd-analyze not available: unit checked for its key settings only"
fi
