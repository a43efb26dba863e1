#!/usr/bin/env python3
"""Writes bindsync-dashboard.json. Every query uses only metrics the daemon
exports; a Go test (cmd/bindsync) checks that against a running daemon."""
import json, os

SEL = 'job=~"$job", instance=~"$instance"'
DS = {"type": "prometheus", "uid": "${datasource}"}
panels, pid = [], [0]

def nid():
    pid[0] += 1
    return pid[0]

def target(expr, legend="", ref="A", instant=False):
    t = {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref}
    if instant:
        t["instant"] = True
    return t

def stat(title, expr, x, y, w=4, h=4, unit="none", mappings=None, thresholds=None, desc=""):
    panels.append({
        "id": nid(), "type": "stat", "title": title, "description": desc, "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [target(expr)],
        "fieldConfig": {"defaults": {"unit": unit, "mappings": mappings or [],
                                     "thresholds": {"mode": "absolute", "steps": thresholds or [{"color": "green", "value": None}]}},
                        "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "colorMode": "background", "graphMode": "none"},
    })

def series(title, targets, x, y, w=12, h=8, unit="short", desc="", stack=False):
    panels.append({
        "id": nid(), "type": "timeseries", "title": title, "description": desc, "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [target(e, l, chr(65 + i)) for i, (e, l) in enumerate(targets)],
        "fieldConfig": {"defaults": {"unit": unit, "custom": {"stacking": {"mode": "normal" if stack else "none"}}}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]}, "tooltip": {"mode": "multi"}},
    })

def row(title, y):
    panels.append({"id": nid(), "type": "row", "title": title, "collapsed": False, "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []})

red_if = lambda v: [{"color": "green", "value": None}, {"color": "red", "value": v}]

row("Health", 0)
stat("Age of the last successful pass (stalest instance)", f'time() - min(bindsync_last_reconcile_success_timestamp_seconds{{{SEL}}})', 0, 1, unit="s",
     thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 600}, {"color": "red", "value": 900}],
     desc="The instance whose last success is oldest: one stuck instance is not hidden by a healthy one. Advances on every successful pass, no-op passes included. Alert BindsyncReconcileStale at 15m.")
stat("Failed passes in a row", f'max(bindsync_consecutive_failed_reconciles{{{SEL}}})', 4, 1, thresholds=red_if(3))
stat("Safety gate", f'max(bindsync_safety_gate_blocked{{{SEL}}})', 8, 1,
     mappings=[{"type": "value", "options": {"0": {"text": "open", "color": "green"}, "1": {"text": "BLOCKED", "color": "red"}}}], thresholds=red_if(1))
stat("Desired-state file", f'min(bindsync_desired_state_last_reload_successful{{{SEL}}})', 12, 1,
     mappings=[{"type": "value", "options": {"1": {"text": "loaded", "color": "green"}, "0": {"text": "REJECTED", "color": "red"}}}],
     thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}])
stat("Bindings in backoff", f'sum(bindsync_bindings_in_backoff{{{SEL}}})', 16, 1, w=2, thresholds=red_if(1))
stat("Awaiting their AccessKey", f'sum(bindsync_bindings{{{SEL}, state="awaiting_key"}})', 18, 1, w=2,
     thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}],
     desc="Binding changes held back until Threat Analysis knows the AccessKey the file asks for (a rotation under way: register the key in Security Center). Alert BindsyncAwaitingKey after 24h.")
panels.append({
    "id": nid(), "type": "table", "title": "Mode and build", "datasource": DS, "gridPos": {"x": 20, "y": 1, "w": 4, "h": 4},
    "targets": [target(f'bindsync_mode_info{{{SEL}}}', ref="A", instant=True), target(f'bindsync_build_info{{{SEL}}}', ref="B", instant=True)],
    "transformations": [{"id": "merge"}, {"id": "organize", "options": {"excludeByName": {"Time": True, "Value #A": True, "Value #B": True, "__name__": True, "job": True}}}],
})

row("Changes", 5)
series("Changes applied per second, by operation and result",
       [(f'sum by (op, result) (rate(bindsync_changes_applied_total{{{SEL}}}[$__rate_interval]))', "{{op}} {{result}}")], 0, 6, unit="ops")
series("Reconcile passes per minute, by result",
       [(f'sum by (result) (increase(bindsync_reconcile_runs_total{{{SEL}}}[5m])) / 5', "{{result}}")], 12, 6, unit="short")
series("Pending changes, by operation", [(f'sum by (op) (bindsync_pending_changes{{{SEL}}})', "{{op}}")], 0, 14, w=8, stack=True)
series("Bindings by state", [(f'sum by (state) (bindsync_bindings{{{SEL}, state!~"desired|observed"}})', "{{state}}")], 8, 14, w=8, stack=True,
       desc="The states of the desired and observed bindings; the totals are in the panel beside.")
series("Bindings: desired and observed totals", [(f'sum by (state) (bindsync_bindings{{{SEL}, state=~"desired|observed"}})', "{{state}}")], 16, 14, w=8)

row("API", 22)
series("API attempts per second, by result class",
       [(f'sum by (result) (rate(bindsync_api_requests_total{{{SEL}}}[$__rate_interval]))', "{{result}}")], 0, 23, unit="reqps", stack=True)
series("Throttled share of API attempts",
       [(f'sum(rate(bindsync_api_requests_total{{{SEL}, result="throttled"}}[$__rate_interval])) / sum(rate(bindsync_api_requests_total{{{SEL}}}[$__rate_interval]))', "throttled")],
       12, 23, unit="percentunit", desc="Alert BindsyncThrottled above 20% for 15m.")
series("API latency by operation (p50, p95)",
       [(f'histogram_quantile(0.5, sum by (le, operation) (rate(bindsync_api_request_duration_seconds_bucket{{{SEL}}}[$__rate_interval])))', "p50 {{operation}}"),
        (f'histogram_quantile(0.95, sum by (le, operation) (rate(bindsync_api_request_duration_seconds_bucket{{{SEL}}}[$__rate_interval])))', "p95 {{operation}}")],
       0, 31, unit="s")
series("Rate limiter: current rate and wait (p95)",
       [(f'max(bindsync_rate_limit_qps{{{SEL}}})', "limit (req/s)"),
        (f'histogram_quantile(0.95, sum by (le) (rate(bindsync_rate_limit_wait_seconds_bucket{{{SEL}}}[$__rate_interval])))', "wait p95 (s)")],
       12, 31, desc="The adaptive limiter halves its rate on throttling and recovers slowly.")

row("Passes and reloads", 39)
series("Pass duration (p50, p95)",
       [(f'histogram_quantile(0.5, sum by (le) (rate(bindsync_reconcile_duration_seconds_bucket{{{SEL}}}[$__rate_interval])))', "p50"),
        (f'histogram_quantile(0.95, sum by (le) (rate(bindsync_reconcile_duration_seconds_bucket{{{SEL}}}[$__rate_interval])))', "p95")],
       0, 40, unit="s")
series("Desired-state reloads per hour, by result",
       [(f'sum by (result) (increase(bindsync_desired_state_reloads_total{{{SEL}}}[1h]))', "{{result}}")], 12, 40)

dashboard = {
    "title": "bindsync",
    "uid": "bindsync",
    "description": "Threat Analysis multicloud bindings kept in line with a YAML file.",
    "tags": ["bindsync", "alibaba-cloud"],
    "timezone": "browser",
    "schemaVersion": 39,
    "version": 1,
    "refresh": "1m",
    "time": {"from": "now-6h", "to": "now"},
    "templating": {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus", "current": {}},
        {"name": "job", "label": "Job", "type": "query", "datasource": DS, "query": "label_values(bindsync_build_info, job)",
         "refresh": 2, "includeAll": True, "multi": True, "current": {"text": "All", "value": "$__all"}, "allValue": ".*"},
        {"name": "instance", "label": "Instance", "type": "query", "datasource": DS,
         "query": 'label_values(bindsync_build_info{job=~"$job"}, instance)', "refresh": 2, "includeAll": True, "multi": True,
         "current": {"text": "All", "value": "$__all"}, "allValue": ".*"},
    ]},
    "annotations": {"list": []},
    "panels": panels,
}
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "bindsync-dashboard.json"), "w") as f:
    json.dump(dashboard, f, indent=2)
    f.write("\n")
