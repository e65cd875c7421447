#!/usr/bin/env bash
# Installs what the demo, the tests and the benchmark need, from Debian and PyPI; a no-op when present.
set -euo pipefail
need=()
for pkg in librabbitmq-dev libcurl4-openssl-dev rabbitmq-server fuse3 bindfs s3fs openssl procps curl ca-certificates util-linux \
           iproute2 prometheus lintian mmdebstrap help2man python3-fusepy systemd-container; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing from Debian: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" > /tmp/dms-apt.log 2>&1 || { tail -40 /tmp/dms-apt.log; exit 1; }
fi
# The broker's packaged service may start itself; the tests use a private node, so stop the system one.
# The same for Prometheus: only its promtool is used (to check the alert rules).
for unit in rabbitmq-server prometheus; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$unit" 2>/dev/null; then systemctl stop "$unit" || true; fi
done
missing_py=$(python3 - <<'PY'
import importlib.util
mods = {"moto": "moto[server]", "flask": "moto[server]", "pika": "pika", "jsonschema": "jsonschema", "yaml": "pyyaml", "boto3": "boto3"}
print(" ".join(sorted({pkg for mod, pkg in mods.items() if importlib.util.find_spec(mod) is None})))
PY
)
if [ -n "$missing_py" ]; then
  echo "installing from PyPI: $missing_py"
  # shellcheck disable=SC2086
  python3 -m pip install -q $missing_py 2>&1 | grep -v "Running pip as the 'root'" || true
fi
