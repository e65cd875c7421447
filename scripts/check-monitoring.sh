#!/usr/bin/env bash
# Checks docker/monitoring: the alert rules (promtool check + unit tests), the dashboard JSON, and — given a
# scrape of a running agent's /metrics as $1 — that every metric the rules and the dashboard name exists.
set -euo pipefail
cd "$(dirname "$0")/../docker/monitoring"
promtool check rules dms-agent.rules.yml >/dev/null
promtool test rules dms-agent.rules.test.yml >/dev/null
# The dashboard's queries parse as PromQL: promtool checks them as recording rules ($instance as a regex).
exprs=$(mktemp --suffix=.yml)
trap 'rm -f "$exprs"' EXIT
python3 - "$exprs" <<'PY'
import json, sys
dashboard = json.load(open("dms-agent.dashboard.json"))
with open(sys.argv[1], "w") as out:
    out.write("groups:\n- name: dashboard\n  rules:\n")
    for p in dashboard["panels"]:
        assert p.get("title") and p.get("targets"), f"panel {p.get('id')} needs a title and targets"
        for i, t in enumerate(p["targets"]):
            expr = t["expr"].replace("$instance", ".*")
            out.write(f"  - record: dashboard:panel{p['id']}:{i}\n    expr: {json.dumps(expr)}\n")
PY
promtool check rules "$exprs" >/dev/null || { echo "a dashboard query does not parse (promtool check rules $exprs)"; exit 1; }
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
