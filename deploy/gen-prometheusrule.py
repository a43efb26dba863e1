#!/usr/bin/env python3
"""Regenerates kubernetes/base/prometheusrule.yaml from prometheus/alerts.yaml."""
import os

here = os.path.dirname(os.path.abspath(__file__))
src = open(os.path.join(here, "prometheus", "alerts.yaml")).read()
body = src[src.index("groups:"):]
indented = "\n".join(("  " + l if l.strip() else l) for l in body.rstrip("\n").split("\n"))
header = """# Generated from deploy/prometheus/alerts.yaml (a test keeps them identical):
#   python3 deploy/gen-prometheusrule.py
# kube-prometheus-stack selects rules by label; set the one your Prometheus
# uses (often release: <helm release name>).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: bindsync
  labels:
    role: alert-rules
spec:
"""
with open(os.path.join(here, "kubernetes", "base", "prometheusrule.yaml"), "w") as f:
    f.write(header + indented + "\n")

# The Helm chart ships the same rules (templates/prometheusrule.yaml reads them).
with open(os.path.join(here, "helm", "bindsync", "files", "alerts.yaml"), "w") as f:
    f.write("# Generated from deploy/prometheus/alerts.yaml by deploy/gen-prometheusrule.py.\n" + body)
