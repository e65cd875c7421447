#!/usr/bin/env bash
# CI's check of the Debian package: build it, lintian reports no error, dpkg -i installs it here, the installed
# binary runs, systemd-analyze accepts the installed unit, dpkg -r removes it and leaves the conffile, dpkg -P
# purges it. Leaves this machine as it found it (unless dms-agent was installed before: then it refuses).
set -euo pipefail
cd "$(dirname "$0")/.."
if dpkg -s dms-agent >/dev/null 2>&1; then echo "dms-agent is installed on this machine: not touching it"; exit 1; fi
for tool in lintian; do
  command -v $tool >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $tool >/dev/null
done
deb=$(scripts/package-deb.sh | tail -1)
echo "== $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --info "$deb" | sed -n '/Package:/,/Description:/p' | sed 's/^/   /'
echo "== lintian"
lintian --fail-on error,warning "$deb" | sed 's/^/   /' || { echo "lintian reports errors"; exit 1; }
echo "== dpkg -i"
dpkg -i "$deb" >/dev/null
trap 'dpkg -P dms-agent >/dev/null 2>&1 || true' EXIT
/usr/bin/dms-agent --version
[ "$(readlink /usr/bin/trilio-dms-server)" = dms-agent ] || { echo "no trilio-dms-server link"; exit 1; }
# Captured first: grep -q stops reading at its match, and the help's later writes would die of SIGPIPE (pipefail).
server_help=$(/usr/bin/trilio-dms-server --help)
grep -q 'Run the agent' <<<"$server_help" || { echo "trilio-dms-server is not 'dms-agent run'"; exit 1; }
# After a reboot /run is empty: the tmpfiles entry makes the PID directory again (checked in a scratch root).
root=$(mktemp -d)
install -D -m 644 /usr/lib/tmpfiles.d/dms-agent.conf "$root/usr/lib/tmpfiles.d/dms-agent.conf"
systemd-tmpfiles --root="$root" --create dms-agent.conf
for dir in run/dms run/dms/s3; do
  [ "$(stat -c %a "$root/$dir" 2>/dev/null)" = 755 ] || { echo "tmpfiles.d did not create /$dir 0755"; exit 1; }
done
rm -rf "$root"
echo "tmpfiles.d: /run/dms and /run/dms/s3 created 0755"
grep -q '^StartLimitIntervalSec=0' /lib/systemd/system/dms-agent.service || { echo "unit may be start-limited"; exit 1; }
/usr/bin/dms-agent doctor --help | sed -n 1,3p  # sed reads it all: head would close the pipe (SIGPIPE under pipefail)
man -w dms-agent >/dev/null 2>&1 || [ -f /usr/share/man/man8/dms-agent.8.gz ]
grep -q '^KillMode=process' /lib/systemd/system/dms-agent.service
out=$(systemd-analyze verify /lib/systemd/system/dms-agent.service 2>&1 || true)
if [ -n "$out" ]; then echo "$out"; echo "systemd-analyze verify rejects the installed unit"; exit 1; fi
echo "systemd-analyze verify: ok"
# The sandbox's exposure (docs/operations.md): at most 4.5, so a directive dropped or a capability added shows here.
exposure=$(systemd-analyze security --offline=true /lib/systemd/system/dms-agent.service --no-pager \
  | awk '/Overall exposure level/ {print $(NF-2)}')
awk -v s="$exposure" 'BEGIN { exit !(s != "" && s <= 4.5) }' || { echo "the unit's exposure $exposure is above 4.5"; exit 1; }
echo "systemd-analyze security: $exposure (at most 4.5)"
[ -f /usr/share/dms-agent/unprivileged.conf ] || { echo "no unprivileged drop-in"; exit 1; }
echo "== dpkg -r"
dpkg -r dms-agent >/dev/null
[ ! -e /usr/bin/dms-agent ] || { echo "binary left after dpkg -r"; exit 1; }
[ -f /etc/triliovault-dms/server.conf ] || { echo "conffile removed by dpkg -r"; exit 1; }
echo "removed; /etc/triliovault-dms/server.conf kept"
dpkg -P dms-agent >/dev/null
[ ! -e /etc/triliovault-dms/server.conf ] || { echo "conffile left after purge"; exit 1; }
echo "== the Debian package installs, runs and removes cleanly"
