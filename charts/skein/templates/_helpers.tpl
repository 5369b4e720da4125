{{/*
Names and labels from one place (STYLE.md rule 3). Every object carries the app.kubernetes.io/*
labels; the selector uses only name + instance, which never change over upgrades.
*/}}

{{- define "skein.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release> when it already contains the chart name, else <release>-<chart>; at most 63 characters. */}}
{{- define "skein.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Cluster-scoped objects (ClusterRole, ClusterRoleBinding) are shared by every namespace, so their
name also carries the release namespace: two releases of the same name in two namespaces must not
take over each other's RBAC.
*/}}
{{- define "skein.clusterName" -}}
{{- printf "%s-%s" (include "skein.fullname" .) .Release.Namespace | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "skein.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "skein.selectorLabels" -}}
app.kubernetes.io/name: {{ include "skein.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "skein.labels" -}}
{{ include "skein.selectorLabels" . }}
app.kubernetes.io/version: {{ (default .Chart.AppVersion .Values.image.tag) | trunc 63 | quote }}
app.kubernetes.io/part-of: skein
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "skein.chart" . }}
{{- end }}

{{- define "skein.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "skein.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The operator's image; also the default image of TracingCluster components. */}}
{{- define "skein.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The sidecar-injection webhook's names, passed to the operator as SKEIN_WEBHOOK_* (it creates the
Secret and the MutatingWebhookConfiguration itself). The Service name is a DNS label: at most 63
characters with its suffix. The MutatingWebhookConfiguration is cluster-scoped, so it carries the
release namespace like the ClusterRole.
*/}}
{{- define "skein.webhookServiceName" -}}
{{- printf "%s-webhook" (include "skein.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{- define "skein.webhookSecretName" -}}
{{- printf "%s-webhook-tls" (include "skein.fullname" .) }}
{{- end }}

{{- define "skein.webhookConfigName" -}}
{{- include "skein.clusterName" . }}
{{- end }}

{{/* webhook.port and webhook.timeoutSeconds, checked at render time rather than at the operator's start. */}}
{{- define "skein.webhookPort" -}}
{{- $port := int .Values.webhook.port }}
{{- if or (lt $port 1) (gt $port 65535) (eq $port 9096) }}
{{- fail (printf "webhook.port must be in 1..65535 and not 9096 (the admin port), got %v" .Values.webhook.port) }}
{{- end }}
{{- $port }}
{{- end }}

{{- define "skein.webhookTimeoutSeconds" -}}
{{- $t := int .Values.webhook.timeoutSeconds }}
{{- if or (lt $t 1) (gt $t 30) }}
{{- fail (printf "webhook.timeoutSeconds must be in 1..30 (the apiserver's limit), got %v" .Values.webhook.timeoutSeconds) }}
{{- end }}
{{- $t }}
{{- end }}
