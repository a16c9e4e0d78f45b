{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "odin-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Object name: <release> when it already contains the chart name, else <release>-<chart>. */}}
{{- define "odin-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "odin-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "odin-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "odin-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "odin-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "odin-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "odin-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "odin-operator.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The URL grid pods use to reach the built-in supervisor: the Service's cluster DNS name. */}}
{{- define "odin-operator.supervisorUrl" -}}
{{- if .Values.supervisor.url -}}
{{- .Values.supervisor.url -}}
{{- else -}}
{{- printf "http://%s.%s.svc:%d" (include "odin-operator.fullname" .) .Release.Namespace (int .Values.service.supervisorPort) -}}
{{- end -}}
{{- end -}}

{{/* The Lease name: one per release, so two releases never share a leader. */}}
{{- define "odin-operator.leaseName" -}}
{{- default (include "odin-operator.fullname" .) .Values.leaderElection.leaseName -}}
{{- end -}}

{{/*
The operator's rules on namespaced resources (a ClusterRole, or a Role per watchNamespaces entry).
Secrets: the operator lists and watches only its own (by label) and each Secret an OdinServer
names (by a metadata.name field selector); RBAC cannot scope list/watch by a selector, so the
verbs are on secrets, but nothing else is ever read.
*/}}
{{- define "odin-operator.rules" -}}
# The OdinServer informer.
- apiGroups: [odin-grid.io]
  resources: [odinservers]
  verbs: [list, watch]
# Status (server-side apply) and the autoscaler's replicas (the scale subresource).
- apiGroups: [odin-grid.io]
  resources: [odinservers/status, odinservers/scale]
  verbs: [patch]
# Children carry a controller owner reference with blockOwnerDeletion: clusters that enable
# the OwnerReferencesPermissionEnforcement admission plugin ask for this.
- apiGroups: [odin-grid.io]
  resources: [odinservers/finalizers]
  verbs: [update]
# Children: informers and server-side apply.
- apiGroups: [""]
  resources: [configmaps, secrets, services]
  verbs: [list, watch, create, patch]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [list, watch, create, patch]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [list, watch, create, patch]
# grid pods: reports are matched to pods; draining marks and deletion costs are applied; a
# server held through a rollout for its conversations is deleted once empty.
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch, patch, delete]
# ScalingUp, ScalingDown, Draining, Drained, InvalidConfig, ConfigValid.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end -}}
