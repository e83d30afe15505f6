{{/* Names and labels shared by the templates. */}}
{{- define "plo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "plo.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "plo.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The ServiceAccount: privatelink-operator whatever the release is called,
so an IAM trust policy (IRSA's subject, Pod Identity's association) names
one account that stays put. */}}
{{- define "plo.serviceAccountName" -}}
{{- default "privatelink-operator" .Values.serviceAccount.name -}}
{{- end -}}

{{- define "plo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "plo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "plo.labels" -}}
{{ include "plo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
