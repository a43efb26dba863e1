{{- define "bindsync.labels" -}}
app.kubernetes.io/name: bindsync
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: reconciler
app.kubernetes.io/part-of: threat-analysis-bindings
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
{{- define "bindsync.selector" -}}
app.kubernetes.io/name: bindsync
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
