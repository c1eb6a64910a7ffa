{{/*
Chart name, truncated to 63 characters (the DNS label limit).
*/}}
{{- define "vast-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: "<release>-<chart>", or the release name when it already contains the chart name.
Truncated to 52 characters, so the longest suffix ("-simulator", "-metrics", "-api-key")
still fits into 63.
*/}}
{{- define "vast-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "vast-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels on every object.
*/}}
{{- define "vast-operator.labels" -}}
helm.sh/chart: {{ include "vast-operator.chart" . }}
{{ include "vast-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: vast-operator
{{- end }}

{{/*
Selector labels (immutable once a Deployment exists: never add to them).
*/}}
{{- define "vast-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vast-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "vast-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "vast-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "vast-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (toString (default .Chart.AppVersion .Values.image.tag)) }}
{{- end }}

{{/*
The Secret holding the default Vast API key, or "" when there is none.
*/}}
{{- define "vast-operator.apiKeySecretName" -}}
{{- if .Values.vast.existingSecret }}
{{- .Values.vast.existingSecret }}
{{- else if or .Values.vast.apiKey .Values.simulator.enabled }}
{{- printf "%s-api-key" (include "vast-operator.fullname" .) }}
{{- end }}
{{- end }}

{{- define "vast-operator.simulatorName" -}}
{{- printf "%s-simulator" (include "vast-operator.fullname" .) }}
{{- end }}

{{/*
The Vast API URL: vast.url, else the in-cluster simulator, else the real Vast console.
*/}}
{{- define "vast-operator.vastUrl" -}}
{{- if .Values.vast.url }}
{{- .Values.vast.url }}
{{- else if .Values.simulator.enabled }}
{{- printf "http://%s.%s.svc:%d" (include "vast-operator.simulatorName" .) .Release.Namespace (int .Values.simulator.port) }}
{{- else }}
{{- "https://console.vast.ai" }}
{{- end }}
{{- end }}

{{/*
Cross-field checks the JSON schema cannot phrase readably.
*/}}
{{- define "vast-operator.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.peering.enabled) }}
{{- fail (printf "replicaCount is %d, but more than one replica needs peering.enabled=true: kopf's peering is not leader election, and unpeered replicas would all reconcile the same objects (renting twice). Set peering.enabled=true (the chart then gives each replica a distinct priority) or replicaCount=1." (int .Values.replicaCount)) }}
{{- end }}
{{- if and .Values.vast.existingSecret .Values.vast.apiKey }}
{{- fail "vast.existingSecret and vast.apiKey are both set: choose one (the existing Secret, or a key the chart turns into a Secret)." }}
{{- end }}
{{- if and .Values.operator.sweepOrphans (not .Values.operator.clusterId) }}
{{- fail "operator.sweepOrphans needs operator.clusterId: without a cluster name in the labels, instances of another cluster sharing the Vast account could not be told apart from orphans." }}
{{- end }}
{{- if and .Values.simulator.enabled (not .Values.vast.url) (or .Values.vast.existingSecret .Values.vast.apiKey) }}
{{- fail "simulator.enabled points the operator at the in-cluster simulator, but vast.existingSecret or vast.apiKey is set: a real Vast key must never be sent to the simulator. Unset them (the simulator's own simulator.apiKey is used), or set vast.url to the real API and simulator.enabled=false." }}
{{- end }}
{{- if and .Values.peering.enabled .Values.peering.create (not .Values.watchNamespaces) (not (.Capabilities.APIVersions.Has "kopf.dev/v1/ClusterKopfPeering")) }}
{{- fail "peering.enabled with peering.create needs kopf's peering CRDs (kopf.dev/v1 ClusterKopfPeering, KopfPeering) in the cluster: install them first (see docs/helm.md), or set peering.create=false and create the peering object yourself. With `helm template`, pass --api-versions kopf.dev/v1/ClusterKopfPeering." }}
{{- end }}
{{- if and .Values.peering.enabled .Values.peering.create .Values.watchNamespaces (not (.Capabilities.APIVersions.Has "kopf.dev/v1/KopfPeering")) }}
{{- fail "peering.enabled with peering.create needs kopf's peering CRDs (kopf.dev/v1 ClusterKopfPeering, KopfPeering) in the cluster: install them first (see docs/helm.md), or set peering.create=false and create the peering objects yourself. With `helm template`, pass --api-versions kopf.dev/v1/KopfPeering." }}
{{- end }}
{{- end }}
