#!/usr/bin/env python3
"""Steps 3-5 of scripts/check-alerts.sh, reading the rule and test files with a YAML parser.

  3. Coverage: every alert has at least one firing case (non-empty exp_alerts) and one
     not-firing case (`exp_alerts: []`) in the promtool unit tests; tests name only real alerts.
  4. Every alert has a severity label (warning|critical|info), summary, description and a
     runbook_url whose anchor is the lowercase alert name, and a heading `## <AlertName>` in
     docs/runbooks.md.
  5. Every pg_replication_* metric used in an expression is in the SPEC list (spec-metrics.txt);
     recording rules are named pg_replication:<what>:<aggregation>.

Usage: check-alerts.py RUNBOOKS SPEC_LIST REPO_URL RULE_FILE... -- TEST_FILE...
Prints every problem to stderr and exits 1 if there was any. Needs PyYAML (Debian
python3-yaml).
"""

import collections
import re
import os
import sys

try:
    import yaml
except ImportError:
    sys.exit("check-alerts: PyYAML is missing; install it (apt-get install python3-yaml)")

METRIC = re.compile(r"(?<![:\w])pg_replication_\w+")
SEVERITIES = {"warning", "critical", "info"}


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def main(argv):
    runbooks, spec_list, repo_url, *files = argv
    sep = files.index("--")
    rule_files, test_files = files[:sep], files[sep + 1 :]
    problems = []
    problem = problems.append

    rules = []  # (file, rule)
    for path in rule_files:
        for group in load(path).get("groups") or []:
            for rule in group.get("rules") or []:
                rules.append((path, rule))
    alerts = [r for _, r in rules if "alert" in r]
    names = sorted(str(r["alert"]) for r in alerts)
    if not names:
        problem(f"no alerts found in {' '.join(rule_files)}")
    dups = sorted(n for n, k in collections.Counter(names).items() if k > 1)
    if dups:
        problem(f"alert names defined twice: {' '.join(dups)}")

    cases = collections.defaultdict(set)  # alertname -> {"firing", "silent"}
    for path in test_files:
        for test in load(path).get("tests") or []:
            for case in test.get("alert_rule_test") or []:
                name = case.get("alertname")
                if name is None or "exp_alerts" not in case:
                    continue
                cases[str(name)].add("firing" if case["exp_alerts"] else "silent")

    with open(runbooks, encoding="utf-8") as f:
        headings = set(f.read().splitlines())
    tests_dir = sorted({p.rsplit("/", 1)[0] for p in test_files})
    where = " ".join(tests_dir)
    for rule in alerts:
        a = str(rule["alert"])
        if "firing" not in cases.get(a, ()):
            problem(f"{a}: no firing test case (non-empty exp_alerts) in {where}")
        if "silent" not in cases.get(a, ()):
            problem(f"{a}: no not-firing test case (exp_alerts: []) in {where}")
        labels = rule.get("labels") or {}
        annotations = rule.get("annotations") or {}
        if str(labels.get("severity", "")) not in SEVERITIES:
            problem(f"{a}: severity label missing or not warning|critical|info")
        if "summary" not in annotations:
            problem(f"{a}: summary annotation missing")
        if "description" not in annotations:
            problem(f"{a}: description annotation missing")
        want = f"{repo_url}#{a.lower()}"
        if annotations.get("runbook_url") != want:
            problem(f"{a}: runbook_url must be {want}")
        if f"## {a}" not in headings:
            problem(f"{a}: no heading '## {a}' in docs/runbooks.md")

    # Every tested alert name must exist (a typo in a test would otherwise pass as "silent").
    for name in sorted(cases):
        if name not in names:
            problem(f"tests refer to unknown alert {name}")

    # The SPEC's names, and the ones exported beyond the SPEC tables (extra-metrics.txt beside
    # the list, proposed for the SPEC).
    extra_list = os.path.join(os.path.dirname(spec_list), "extra-metrics.txt")
    known = set()
    for path in [spec_list] + ([extra_list] if os.path.exists(extra_list) else []):
        with open(path, encoding="utf-8") as f:
            known |= {l.strip() for l in f if l.strip() and not l.startswith("#")}
    # Only the PromQL: annotations mention view names such as pg_replication_slots.
    used = sorted({m for _, r in rules for m in METRIC.findall(str(r.get("expr", "")))})
    for m in used:
        if m not in known:
            problem(f"metric {m} is not in SPEC ({spec_list}) nor in {extra_list}")
    for _, r in rules:
        if "record" in r and not str(r["record"]).startswith("pg_replication:"):
            problem(f"recording rule {r['record']} must be named pg_replication:<what>:<aggregation>")

    for p in problems:
        print(f"check-alerts: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"{len(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
