{{/*
The chart name, or nameOverride.
*/}}
{{- define "aidetect.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The fully qualified app name, the prefix of every object name: fullnameOverride, or
release-chart (just the release name when it already contains the chart name). At most 63 chars.
*/}}
{{- define "aidetect.fullname" -}}
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
The name of one component's objects: fullname-COMPONENT, trimmed to 63 chars.
Call with (dict "root" $ "component" "api").
*/}}
{{- define "aidetect.componentName" -}}
{{- $full := include "aidetect.fullname" .root }}
{{- printf "%s-%s" ($full | trunc (int (sub 62 (len .component)))) .component | trimSuffix "-" }}
{{- end }}

{{/*
The name of cluster-scoped objects (ClusterRole, ClusterRoleBinding): they carry the release
namespace too, so two releases, and crds/rbac/operator.yaml, never collide.
Call with (dict "root" $ "component" "operator").
*/}}
{{- define "aidetect.clusterName" -}}
{{- printf "%s-%s-%s" .root.Release.Namespace (include "aidetect.fullname" .root) .component }}
{{- end }}

{{/*
The chart label value: name-version.
*/}}
{{- define "aidetect.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels of every object: the selector labels, the version, the manager and helm.sh/chart.
*/}}
{{- define "aidetect.labels" -}}
helm.sh/chart: {{ include "aidetect.chart" . }}
{{ include "aidetect.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: aidetect
{{- end }}

{{/*
Selector labels: immutable across upgrades, so no helm.sh/chart or version here.
*/}}
{{- define "aidetect.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aidetect.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of one component's objects. Call with (dict "root" $ "component" "api").
*/}}
{{- define "aidetect.componentLabels" -}}
{{ include "aidetect.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Selector labels of one component's pods. Call with (dict "root" $ "component" "api").
*/}}
{{- define "aidetect.componentSelectorLabels" -}}
{{ include "aidetect.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
The ServiceAccount name of a component (operator or api): the given name, or the component
name when the chart creates it, or "default".
Call with (dict "root" $ "component" "operator").
*/}}
{{- define "aidetect.serviceAccountName" -}}
{{- $sa := (index .root.Values .component).serviceAccount }}
{{- if $sa.create }}
{{- default (include "aidetect.componentName" .) $sa.name }}
{{- else }}
{{- default "default" $sa.name }}
{{- end }}
{{- end }}

{{/*
The aidetect image of the operator and API: repository:tag, the tag defaulting to appVersion.
*/}}
{{- define "aidetect.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
A worker's image: the chart image with the worker's overrides and the flavor suffix (-cuda).
Call with (dict "root" $ "worker" $worker).
*/}}
{{- define "aidetect.workerImage" -}}
{{- $img := .worker.image | default dict }}
{{- $repo := default .root.Values.image.repository $img.repository }}
{{- $tag := default (default .root.Chart.AppVersion .root.Values.image.tag) $img.tag }}
{{- $flavor := default .root.Values.image.workerFlavor $img.flavor }}
{{- if $flavor }}{{ printf "%s:%s-%s" $repo $tag $flavor }}{{ else }}{{ printf "%s:%s" $repo $tag }}{{ end }}
{{- end }}

{{/*
A generated password that is stable across upgrades: the value already in the named Secret
(lookup), else one generated once per render and remembered, so every template that asks for
it in this render gets the same one. Call with (dict "root" $ "secret" NAME "key" KEY).
*/}}
{{- define "aidetect.generatedSecret" -}}
{{- $memo := printf "_generated_%s_%s" .secret .key }}
{{- $cacheMap := index .root.Values "__generated" | default dict }}
{{- if not (hasKey $cacheMap $memo) }}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .secret }}
{{- if and $existing (hasKey ($existing.data | default dict) .key) }}
{{- $_ := set $cacheMap $memo (index $existing.data .key | b64dec) }}
{{- else }}
{{- $_ := set $cacheMap $memo (randAlphaNum 32) }}
{{- end }}
{{- $_ := set .root.Values "__generated" $cacheMap }}
{{- end }}
{{- index $cacheMap $memo }}
{{- end }}

{{/*
Where the database password lives: the bundled Postgres Secret or externalDatabase.existingSecret.
*/}}
{{- define "aidetect.database.secretName" -}}
{{- if .Values.postgresql.enabled }}{{ include "aidetect.componentName" (dict "root" . "component" "postgresql") }}{{ else }}{{ required "externalDatabase.existingSecret is required when postgresql.enabled is false" .Values.externalDatabase.existingSecret }}{{ end }}
{{- end }}

{{- define "aidetect.database.secretKey" -}}
{{- if .Values.postgresql.enabled }}password{{ else }}{{ .Values.externalDatabase.existingSecretPasswordKey }}{{ end }}
{{- end }}

{{/*
The RabbitMQ password Secret: the bundled one or externalRabbitmq.existingSecret.
*/}}
{{- define "aidetect.rabbitmq.secretName" -}}
{{- if .Values.rabbitmq.enabled }}{{ include "aidetect.componentName" (dict "root" . "component" "rabbitmq") }}{{ else }}{{ required "externalRabbitmq.existingSecret is required when rabbitmq.enabled is false" .Values.externalRabbitmq.existingSecret }}{{ end }}
{{- end }}

{{- define "aidetect.rabbitmq.secretKey" -}}
{{- if .Values.rabbitmq.enabled }}password{{ else }}{{ .Values.externalRabbitmq.existingSecretPasswordKey }}{{ end }}
{{- end }}

{{/*
The AMQP URL without credentials' password: amqp://USER:$(AIDETECT_CHART_AMQP_PASSWORD)@HOST:PORT/VHOST.
The password is injected by the kubelet's $(VAR) expansion from a secretKeyRef env var.
*/}}
{{- define "aidetect.amqpUrl" -}}
{{- if .Values.rabbitmq.enabled }}
{{- printf "amqp://%s:$(AIDETECT_CHART_AMQP_PASSWORD)@%s:5672/%s" .Values.rabbitmq.user (include "aidetect.componentName" (dict "root" . "component" "rabbitmq")) (urlquery .Values.rabbitmq.vhost) }}
{{- else }}
{{- printf "amqp://%s:$(AIDETECT_CHART_AMQP_PASSWORD)@%s:%d/%s" .Values.externalRabbitmq.user (required "externalRabbitmq.host is required when rabbitmq.enabled is false" .Values.externalRabbitmq.host) (int .Values.externalRabbitmq.port) (urlquery .Values.externalRabbitmq.vhost) }}
{{- end }}
{{- end }}

{{/*
The Postgres URL, the password injected the same way.
*/}}
{{- define "aidetect.databaseUrl" -}}
{{- if .Values.postgresql.enabled }}
{{- printf "postgresql://%s:$(AIDETECT_CHART_DB_PASSWORD)@%s:5432/%s" .Values.postgresql.user (include "aidetect.componentName" (dict "root" . "component" "postgresql")) .Values.postgresql.database }}
{{- else }}
{{- printf "postgresql://%s:$(AIDETECT_CHART_DB_PASSWORD)@%s:%d/%s" .Values.externalDatabase.user (required "externalDatabase.host is required when postgresql.enabled is false" .Values.externalDatabase.host) (int .Values.externalDatabase.port) .Values.externalDatabase.database }}
{{- end }}
{{- end }}

{{/*
The environment every aidetect component shares: logging, profiles, Postgres and RabbitMQ.
The password variables come first so that $(VAR) expansion in the URLs sees them.
*/}}
{{- define "aidetect.commonEnv" -}}
- name: AIDETECT_CHART_DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "aidetect.database.secretName" . }}
      key: {{ include "aidetect.database.secretKey" . }}
- name: AIDETECT_CHART_AMQP_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "aidetect.rabbitmq.secretName" . }}
      key: {{ include "aidetect.rabbitmq.secretKey" . }}
- name: AIDETECT_DATABASE_URL
  value: {{ include "aidetect.databaseUrl" . | quote }}
- name: AIDETECT_AMQP_URL
  value: {{ include "aidetect.amqpUrl" . | quote }}
- name: AIDETECT_PROFILES_FILE
  value: /etc/aidetect/profiles.yaml
- name: AIDETECT_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: AIDETECT_LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
{{- end }}

{{/*
The volumes every aidetect pod mounts: the profiles ConfigMap and a writable /tmp.
*/}}
{{- define "aidetect.commonVolumes" -}}
- name: profiles
  configMap:
    name: {{ include "aidetect.componentName" (dict "root" . "component" "profiles") }}
- name: tmp
  emptyDir: {}
{{- end }}

{{- define "aidetect.commonVolumeMounts" -}}
- name: profiles
  mountPath: /etc/aidetect
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end }}

{{/*
Pod-level settings shared by the aidetect pods: pull secrets and the pod securityContext.
*/}}
{{- define "aidetect.podCommon" -}}
{{- /* Service links would put AIDETECT_API_PORT=tcp://... (from the Service named aidetect-api)
  into every pod, where the AIDETECT_ settings prefix reads it as api.port. */ -}}
enableServiceLinks: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}

{{/*
Whether the API has an admin token (AIDETECT_API_TOKEN): auth on and api.auth.adminToken.
*/}}
{{- define "aidetect.api.adminToken" -}}
{{- if and .Values.api.auth.enabled .Values.api.auth.adminToken }}true{{ end }}
{{- end }}

{{/*
The Secret that holds the API's tenants file, or nothing when there is none.
*/}}
{{- define "aidetect.api.tenantsSecret" -}}
{{- if .Values.api.auth.enabled }}
{{- if .Values.api.auth.existingTenantsSecret }}{{ .Values.api.auth.existingTenantsSecret }}
{{- else if .Values.api.auth.tenants }}{{ include "aidetect.componentName" (dict "root" . "component" "api-tenants") }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The namespaces the API may create and delete DetectionTasks in, as a JSON list, or "*" for all.
api.rbac.namespaces when given; else every namespace when a token may use every one (auth off,
the admin token, a "*" tenant, or a tenants file the chart cannot read); else the tenants' own.
*/}}
{{- define "aidetect.api.rbacNamespaces" -}}
{{- $auth := .Values.api.auth }}
{{- if .Values.api.rbac.namespaces }}
{{- .Values.api.rbac.namespaces | uniq | toJson }}
{{- else if or (not $auth.enabled) $auth.adminToken $auth.existingTenantsSecret (not $auth.tenants) }}*
{{- else }}
{{- $namespaces := list }}
{{- range $auth.tenants }}{{ $namespaces = concat $namespaces .namespaces }}{{ end }}
{{- if has "*" $namespaces }}*{{ else }}{{ $namespaces | uniq | toJson }}{{ end }}
{{- end }}
{{- end }}
