#!/usr/bin/env python3
"""Proves the Grafana-managed rules fire exactly when the Prometheus rules do:
turns each Grafana rule's query back into a Prometheus alert (same name, same
`for`, same labels) and runs the promtool test cases of
../prometheus/alerts_test.yaml against it, annotations aside (Grafana's
texts carry no values). Needs promtool; CI runs it."""
import json, os, re, subprocess, sys, tempfile

here = os.path.dirname(os.path.abspath(__file__))
graf = open(os.path.join(here, "alerting", "bindsync-alert-rules.yaml")).read()
rules = []
for block in graf.split("\n      - uid: ")[1:]:
    title = re.search(r"^        title: (\S+)$", block, re.M).group(1)
    expr = json.loads(re.search(r"^              expr: (.+)$", block, re.M).group(1))
    for_ = re.search(r"^        for: (\S+)$", block, re.M).group(1)
    labels = dict(re.findall(r'^          (severity): "(\w+)"$', block, re.M))
    rules.append((title, expr, for_, labels))
if len(rules) < 9:
    sys.exit("check-alerting.py: found only %d Grafana rules" % len(rules))

tmp = tempfile.mkdtemp()
with open(os.path.join(tmp, "alerts.yaml"), "w") as f:
    f.write("groups:\n  - name: bindsync-grafana\n    rules:\n")
    for title, expr, for_, labels in rules:
        f.write(f"      - alert: {title}\n        expr: {json.dumps(expr)}\n        for: {for_}\n        labels:\n")
        for k, v in labels.items():
            f.write(f"          {k}: {v}\n")

tests = open(os.path.join(here, "..", "prometheus", "alerts_test.yaml")).read()
# Drop expected annotations: the Grafana texts differ by design.
tests = re.sub(r"\n( +)exp_annotations:\n(?:\1  .*\n)+", "\n", tests)
with open(os.path.join(tmp, "alerts_test.yaml"), "w") as f:
    f.write(tests)
sys.exit(subprocess.call(["promtool", "test", "rules", os.path.join(tmp, "alerts_test.yaml")]))
