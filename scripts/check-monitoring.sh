#!/usr/bin/env bash
# Checks docker/monitoring: the alert rules (promtool check + unit tests), the dashboard JSON, and — given a
# scrape of a running agent's /metrics as $1 — that every metric the rules and the dashboard name exists.
set -euo pipefail
cd "$(dirname "$0")/../docker/monitoring"
promtool check rules dms-agent.rules.yml >/dev/null
promtool test rules dms-agent.rules.test.yml >/dev/null
python3 - "${1:-}" <<'PY'
import json, re, sys
rules = open("dms-agent.rules.yml").read()
dashboard = json.load(open("dms-agent.dashboard.json"))
exprs = re.findall(r"expr:\s*(\|[\s\S]*?(?=\n\s+(?:for|labels):)|.*)", rules)
exprs += [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
named = set()
for e in exprs:
    named |= set(re.findall(r"\b(dms_[a-z_]+)", e))
if len(sys.argv) > 1 and sys.argv[1]:
    scraped = open(sys.argv[1]).read()
    present = set(re.findall(r"^(dms_[a-z_]+)", scraped, re.M))
    missing = sorted(m for m in named if m not in present)
    if missing:
        sys.exit("metrics named in the rules or the dashboard but not exported: " + ", ".join(missing))
    print(f"monitoring: {len(named)} metrics named, all exported")
else:
    print(f"monitoring: rules and dashboard valid ({len(named)} metrics named)")
PY
