{{/*
elasti.namespace is the release namespace, which must be elasti-system: the operator keeps its
Leases there and sidecars trust the names of the Services in it (pkg/names.SystemNamespace).
*/}}
{{- define "elasti.namespace" -}}
{{- if ne .Release.Namespace "elasti-system" -}}
{{- fail (printf "Elasti must be installed in the namespace elasti-system, not %q: the operator keeps its Leases there and sidecars trust the Services there. Use `helm install ... --namespace elasti-system` (docs/install.md)" .Release.Namespace) -}}
{{- end -}}
{{- .Release.Namespace -}}
{{- end -}}

{{/* Labels Helm adds to every object's metadata (never to selectors or pod templates). */}}
{{- define "elasti.helmLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* elasti.labels: name and component labels plus Helm's; call with (list $ "name"). */}}
{{- define "elasti.labels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ index . 1 }}
app.kubernetes.io/part-of: elasti
{{ include "elasti.helmLabels" $ }}
{{- end -}}

{{/* elasti.image: repository:tag of images.<name>, the tag defaulting to appVersion. */}}
{{- define "elasti.image" -}}
{{- $ := index . 0 -}}
{{- $img := index $.Values.images (index . 1) -}}
{{- printf "%s:%s" $img.repository (default $.Chart.AppVersion $img.tag) -}}
{{- end -}}

{{- define "elasti.selfManaged" -}}
{{- if eq .Values.certificates.mode "self-managed" -}}true{{- end -}}
{{- end -}}

{{/* Service DNS names the serving certificate covers (the webhook's and the operator's). */}}
{{- define "elasti.dnsNames" -}}
{{- $ns := include "elasti.namespace" . -}}
{{- range $svc := list "elasti-webhook" "elasti-operator" }}
- {{ $svc }}.{{ $ns }}.svc
- {{ $svc }}.{{ $ns }}.svc.{{ $.Values.clusterDomain }}
{{- end }}
{{- end -}}

{{- define "elasti.podScheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{/*
elasti.validate: what values.schema.json cannot say. Included by the operator's Deployment.
*/}}
{{- define "elasti.validate" -}}
{{- $r := splitList "-" .Values.sidecarPortRange -}}
{{- $first := index $r 0 | int -}}
{{- $last := index $r 1 | int -}}
{{- if or (le $first 1024) (gt $last 65535) (gt $first $last) -}}
{{- fail (printf "sidecarPortRange %q: expected first-last with 1024 < first <= last <= 65535, e.g. 20000-29999" .Values.sidecarPortRange) -}}
{{- end -}}
{{- end -}}
