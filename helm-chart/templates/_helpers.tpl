{{/*
Chart name (nameOverride wins), at most 63 characters.
*/}}
{{- define "chartroom.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: fullnameOverride, else <release>-<name> (or <release> when it already
contains the name). At most 63 characters (DNS label).
*/}}
{{- define "chartroom.fullname" -}}
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
chart label value: <name>-<version>.
*/}}
{{- define "chartroom.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "chartroom.labels" -}}
helm.sh/chart: {{ include "chartroom.chart" . }}
{{ include "chartroom.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: chartroom
{{- end }}

{{/*
Selector labels (immutable in a Deployment: never add to these).
*/}}
{{- define "chartroom.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chartroom.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
ServiceAccount name.
*/}}
{{- define "chartroom.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "chartroom.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: repository:tag (tag defaults to appVersion), or repository@digest.
*/}}
{{- define "chartroom.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}
{{- end }}

{{/*
An env value as a string. Helm reads numbers in values files as float64; a whole number is
printed as an integer (20971520, not 2.097152e+07).
*/}}
{{- define "chartroom.envValue" -}}
{{- $v := . }}
{{- if and (kindIs "float64" $v) (eq $v (float64 (int64 $v))) }}
{{- int64 $v | toString }}
{{- else }}
{{- toString $v }}
{{- end }}
{{- end }}

{{/*
True (non-empty) when an env.open/env.secret value is set (not null, not "").
*/}}
{{- define "chartroom.isSet" -}}
{{- if and (not (kindIs "invalid" .)) (ne (toString .) "") }}true{{- end }}
{{- end }}

{{/*
The storage backend (storage.type), checked against env.open.STORAGE.
*/}}
{{- define "chartroom.storageType" -}}
{{- $type := .Values.storage.type | default "local" | toString }}
{{- $open := (.Values.env).open | default dict }}
{{- if include "chartroom.isSet" $open.STORAGE }}
{{- if ne (toString $open.STORAGE) $type }}
{{- fail (printf "chartroom: env.open.STORAGE=%s conflicts with storage.type=%s; set storage.type (the chart sets STORAGE and the backend variables from storage.*)" (toString $open.STORAGE) $type) }}
{{- end }}
{{- end }}
{{- $type }}
{{- end }}

{{/*
The local storage folder inside the container (STORAGE_LOCAL_ROOTDIR): env.open.STORAGE_LOCAL_ROOTDIR
or /data (the image's data volume).
*/}}
{{- define "chartroom.localRootdir" -}}
{{- $open := (.Values.env).open | default dict }}
{{- if include "chartroom.isSet" $open.STORAGE_LOCAL_ROOTDIR }}
{{- toString $open.STORAGE_LOCAL_ROOTDIR }}
{{- else }}
{{- "/data" }}
{{- end }}
{{- end }}

{{/*
Container port: env.open.PORT or 8080.
*/}}
{{- define "chartroom.containerPort" -}}
{{- $open := (.Values.env).open | default dict }}
{{- if include "chartroom.isSet" $open.PORT }}
{{- include "chartroom.envValue" $open.PORT }}
{{- else }}
{{- "8080" }}
{{- end }}
{{- end }}

{{/*
CONTEXT_PATH normalized: "" or "/a/b" (leading slash, no trailing slash).
*/}}
{{- define "chartroom.contextPath" -}}
{{- $open := (.Values.env).open | default dict }}
{{- $c := "" }}
{{- if include "chartroom.isSet" $open.CONTEXT_PATH }}
{{- $c = toString $open.CONTEXT_PATH | trimSuffix "/" }}
{{- end }}
{{- if and $c (not (hasPrefix "/" $c)) }}
{{- $c = printf "/%s" $c }}
{{- end }}
{{- $c }}
{{- end }}

{{/*
Health path for the probes: <context path>/health.
*/}}
{{- define "chartroom.healthPath" -}}
{{- printf "%s/health" (include "chartroom.contextPath" .) }}
{{- end }}

{{/*
Readiness path: <context path>/health/ready (503 while the index is built or storage is down).
*/}}
{{- define "chartroom.readyPath" -}}
{{- printf "%s/health/ready" (include "chartroom.contextPath" .) }}
{{- end }}

{{/*
Where the TLS Secret is mounted.
*/}}
{{- define "chartroom.tlsDir" -}}
/etc/chartroom/tls
{{- end }}

{{/*
A probe's action: an HTTP(S) GET of `path`, or with mTLS `chartroom healthcheck` presenting the
probe's client certificate (the kubelet has none). Argument: (list $ path ready).
*/}}
{{- define "chartroom.probeAction" -}}
{{- $ := index . 0 }}
{{- $path := index . 1 }}
{{- $ready := index . 2 }}
{{- $tls := $.Values.tls }}
{{- if and $tls.enabled $tls.clientCAKey }}
{{- $dir := include "chartroom.tlsDir" $ }}
exec:
  command:
    - /usr/local/bin/chartroom
    - healthcheck
    {{- if $ready }}
    - --ready
    {{- end }}
    - --cert-file
    - {{ printf "%s/%s" $dir $tls.probeCertKey | quote }}
    - --key-file
    - {{ printf "%s/%s" $dir $tls.probeKeyKey | quote }}
{{- else }}
httpGet:
  path: {{ $path }}
  port: http
  {{- if $tls.enabled }}
  scheme: HTTPS
  {{- end }}
{{- end }}
{{- end }}

{{/*
"true" when charts live on a single-attach PersistentVolumeClaim (local storage, persistence
enabled, ReadWriteOnce or ReadWriteOncePod).
*/}}
{{- define "chartroom.localSingleAttach" -}}
{{- if and (eq (include "chartroom.storageType" .) "local") .Values.persistence.enabled (has .Values.persistence.accessMode (list "ReadWriteOnce" "ReadWriteOncePod")) }}true{{- end }}
{{- end }}

{{/*
The largest number of pods the release can run: replicaCount, or autoscaling.maxReplicas.
*/}}
{{- define "chartroom.maxReplicas" -}}
{{- if .Values.autoscaling.enabled }}
{{- .Values.autoscaling.maxReplicas | int }}
{{- else }}
{{- .Values.replicaCount | int }}
{{- end }}
{{- end }}

{{/*
Validation of the values that schema types cannot express. Fails rendering with a clear message.
*/}}
{{- define "chartroom.validate" -}}
{{- $type := include "chartroom.storageType" . }}
{{- $max := include "chartroom.maxReplicas" . | int }}
{{- $what := printf "replicaCount=%d" (.Values.replicaCount | int) }}
{{- if .Values.autoscaling.enabled }}
{{- $what = printf "autoscaling.maxReplicas=%d" (.Values.autoscaling.maxReplicas | int) }}
{{- if gt (.Values.autoscaling.minReplicas | int) (.Values.autoscaling.maxReplicas | int) }}
{{- fail (printf "chartroom: autoscaling.minReplicas (%d) is greater than autoscaling.maxReplicas (%d)" (.Values.autoscaling.minReplicas | int) (.Values.autoscaling.maxReplicas | int)) }}
{{- end }}
{{- end }}
{{- if and (eq $type "local") (gt $max 1) }}
{{- if not .Values.persistence.enabled }}
{{- fail (printf "chartroom: local storage without persistence supports one replica: each pod would keep its own emptyDir and the pods' charts would diverge; use storage.type=amazon|google|microsoft for several replicas (%s)" $what) }}
{{- else if include "chartroom.localSingleAttach" . }}
{{- fail (printf "chartroom: local storage on a %s volume supports one replica; use storage.type=amazon|google|microsoft for several replicas (%s)" .Values.persistence.accessMode $what) }}
{{- else }}
{{- fail (printf "chartroom: local storage supports one replica, even on a %s volume: each pod keeps its own in-memory index and would only see the others' uploads at the next resync; use storage.type=amazon|google|microsoft for several replicas (%s)" .Values.persistence.accessMode $what) }}
{{- end }}
{{- end }}
{{- if and (eq $type "local") .Values.persistence.enabled (eq (toString (.Values.strategy).type) "RollingUpdate") }}
{{- fail "chartroom: strategy.type=RollingUpdate with local persistent storage would run two servers on one chart folder (and a single-attach volume cannot move until the old pod is gone); use Recreate or leave strategy empty" }}
{{- end }}
{{- if and .Values.tls.enabled (not .Values.tls.existingSecret) }}
{{- fail "chartroom: tls.enabled needs tls.existingSecret (a Secret with the certificate and key, e.g. from cert-manager)" }}
{{- end }}
{{- if eq $type "amazon" }}
{{- if not .Values.storage.amazon.bucket }}
{{- fail "chartroom: storage.type=amazon needs storage.amazon.bucket" }}
{{- end }}
{{- else if eq $type "google" }}
{{- if not .Values.storage.google.bucket }}
{{- fail "chartroom: storage.type=google needs storage.google.bucket" }}
{{- end }}
{{- else if eq $type "microsoft" }}
{{- if not .Values.storage.microsoft.container }}
{{- fail "chartroom: storage.type=microsoft needs storage.microsoft.container" }}
{{- end }}
{{- if not .Values.storage.microsoft.existingSecret }}
{{- fail "chartroom: storage.type=microsoft needs storage.microsoft.existingSecret (a Secret with AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_ACCESS_KEY)" }}
{{- end }}
{{- else if ne $type "local" }}
{{- fail (printf "chartroom: storage.type=%s is not one of local, amazon, google, microsoft" $type) }}
{{- end }}
{{- if and (gt (len ((.Values.env).existingSecretMappings | default dict)) 0) (not (.Values.env).existingSecret) }}
{{- fail "chartroom: env.existingSecretMappings needs env.existingSecret (the name of the Secret)" }}
{{- end }}
{{- if and .Values.ingress.enabled (not .Values.ingress.hosts) }}
{{- fail "chartroom: ingress.enabled needs at least one entry in ingress.hosts" }}
{{- end }}
{{- include "chartroom.validateAuth" . }}
{{- end }}

{{/*
Tenancy and auth values that the schema cannot check: a setting given twice (here and in
env.open), and the bearer settings the server needs together.
*/}}
{{- define "chartroom.validateAuth" -}}
{{- $open := (.Values.env).open | default dict }}
{{- $t := .Values.tenancy | default dict }}
{{- if or (gt ($t.depth | default 0 | int) 0) $t.dynamic }}
{{- range $name := list "DEPTH" "DEPTH_DYNAMIC" }}
{{- if include "chartroom.isSet" (get $open $name) }}
{{- fail (printf "chartroom: env.open.%s and tenancy.* both set the tenants; keep one" $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- $a := .Values.auth | default dict }}
{{- $managed := list }}
{{- if ($a.basic).existingSecret }}{{- $managed = concat $managed (list "BASIC_AUTH_USER" "BASIC_AUTH_PASS") }}{{- end }}
{{- if ($a.config).existingSecret }}{{- $managed = append $managed "AUTH_CONFIG" }}{{- end }}
{{- if $a.anonymousGet }}{{- $managed = append $managed "AUTH_ANONYMOUS_GET" }}{{- end }}
{{- if ($a.bearer).enabled }}{{- $managed = concat $managed (list "BEARER_AUTH" "AUTH_REALM" "AUTH_SERVICE" "AUTH_CERT_PATH") }}{{- end }}
{{- range $name := $managed }}
{{- if or (include "chartroom.isSet" (get $open $name)) (include "chartroom.isSet" (get ((($.Values.env).secret) | default dict) $name)) (get ((($.Values.env).existingSecretMappings) | default dict) $name) }}
{{- fail (printf "chartroom: %s is set both by auth.* and by env.*; keep one" $name) }}
{{- end }}
{{- end }}
{{- with $a.bearer }}
{{- if .enabled }}
{{- if not .realm }}{{- fail "chartroom: auth.bearer.enabled needs auth.bearer.realm (AUTH_REALM, announced in 401 challenges)" }}{{- end }}
{{- if not .service }}{{- fail "chartroom: auth.bearer.enabled needs auth.bearer.service (AUTH_SERVICE)" }}{{- end }}
{{- if not .existingSecret }}{{- fail "chartroom: auth.bearer.enabled needs auth.bearer.existingSecret (a Secret with the token issuer's public key, AUTH_CERT_PATH)" }}{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Container env for tenancy and auth (tenancy.*, auth.*).
*/}}
{{- define "chartroom.authEnv" -}}
{{- $t := .Values.tenancy | default dict }}
{{- if $t.dynamic }}
- name: DEPTH_DYNAMIC
  value: "true"
{{- else if gt ($t.depth | default 0 | int) 0 }}
- name: DEPTH
  value: {{ $t.depth | int | toString | quote }}
{{- end }}
{{- $a := .Values.auth | default dict }}
{{- with $a.basic }}
{{- if .existingSecret }}
- name: BASIC_AUTH_USER
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret | quote }}
      key: {{ .userKey | default "BASIC_AUTH_USER" | quote }}
- name: BASIC_AUTH_PASS
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret | quote }}
      key: {{ .passwordKey | default "BASIC_AUTH_PASS" | quote }}
{{- end }}
{{- end }}
{{- if $a.anonymousGet }}
- name: AUTH_ANONYMOUS_GET
  value: "true"
{{- end }}
{{- with $a.config }}
{{- if .existingSecret }}
- name: AUTH_CONFIG
  value: {{ printf "/etc/chartroom/auth/%s" (.key | default "auth.yaml") | quote }}
- name: AUTH_CONFIG_POLL_INTERVAL
  value: {{ .pollInterval | default "10s" | toString | quote }}
{{- end }}
{{- end }}
{{- with $a.bearer }}
{{- if .enabled }}
- name: BEARER_AUTH
  value: "true"
- name: AUTH_REALM
  value: {{ .realm | quote }}
- name: AUTH_SERVICE
  value: {{ .service | quote }}
- name: AUTH_CERT_PATH
  value: {{ printf "/etc/chartroom/jwt/%s" (.key | default "public.pem") | quote }}
{{- if .actionsSearchPath }}
- name: AUTH_ACTIONS_SEARCH_PATH
  value: {{ .actionsSearchPath | quote }}
{{- end }}
{{- if .audience }}
- name: AUTH_AUDIENCE
  value: {{ .audience | quote }}
{{- end }}
{{- if .issuer }}
- name: AUTH_ISSUER
  value: {{ .issuer | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The name of the chart-managed Secret (env.secret).
*/}}
{{- define "chartroom.secretName" -}}
{{- include "chartroom.fullname" . }}
{{- end }}

{{/*
True when env.secret holds at least one set value.
*/}}
{{- define "chartroom.hasSecretEnv" -}}
{{- range $k, $v := ((.Values.env).secret | default dict) }}
{{- if include "chartroom.isSet" $v }}true{{- end }}
{{- end }}
{{- end }}

{{/*
Variables the chart sets itself from storage.* and the listen port; env.open entries with these
names are not repeated.
*/}}
{{- define "chartroom.managedEnvNames" -}}
{{- list "PORT" "ENABLE_METRICS" "METRICS_LISTEN" "TLS_CERT" "TLS_KEY" "TLS_CA_CERT" "CONTEXT_PATH" "STORAGE" "STORAGE_LOCAL_ROOTDIR" "STORAGE_AMAZON_BUCKET" "STORAGE_AMAZON_PREFIX" "STORAGE_AMAZON_REGION" "STORAGE_AMAZON_ENDPOINT" "STORAGE_AMAZON_SSE" "STORAGE_AMAZON_FORCE_PATH_STYLE" "STORAGE_GOOGLE_BUCKET" "STORAGE_GOOGLE_PREFIX" "STORAGE_MICROSOFT_CONTAINER" "STORAGE_MICROSOFT_PREFIX" | toJson }}
{{- end }}

{{/*
Container env: the listen port, storage, env.open, env.field, env.secret,
env.existingSecretMappings, then extraEnv.
*/}}
{{- define "chartroom.env" -}}
{{- $type := include "chartroom.storageType" . }}
{{- $managed := include "chartroom.managedEnvNames" . | fromJsonArray }}
{{- $open := (.Values.env).open | default dict }}
- name: PORT
  value: {{ include "chartroom.containerPort" . | quote }}
{{- with include "chartroom.contextPath" . }}
- name: CONTEXT_PATH
  value: {{ . | quote }}
{{- end }}
- name: STORAGE
  value: {{ $type | quote }}
{{- if or .Values.metrics.enabled .Values.serviceMonitor.enabled }}
- name: ENABLE_METRICS
  value: "true"
{{- with .Values.metrics.port }}
- name: METRICS_LISTEN
  value: {{ printf "0.0.0.0:%d" (int .) | quote }}
{{- end }}
{{- end }}
{{- if .Values.tls.enabled }}
{{- $dir := include "chartroom.tlsDir" . }}
- name: TLS_CERT
  value: {{ printf "%s/%s" $dir .Values.tls.certKey | quote }}
- name: TLS_KEY
  value: {{ printf "%s/%s" $dir .Values.tls.keyKey | quote }}
{{- with .Values.tls.clientCAKey }}
- name: TLS_CA_CERT
  value: {{ printf "%s/%s" $dir . | quote }}
{{- end }}
{{- end }}
{{- if eq $type "local" }}
- name: STORAGE_LOCAL_ROOTDIR
  value: {{ include "chartroom.localRootdir" . | quote }}
{{- else if eq $type "amazon" }}
{{- with .Values.storage.amazon }}
- name: STORAGE_AMAZON_BUCKET
  value: {{ .bucket | quote }}
{{- if .prefix }}
- name: STORAGE_AMAZON_PREFIX
  value: {{ .prefix | quote }}
{{- end }}
{{- if .region }}
- name: STORAGE_AMAZON_REGION
  value: {{ .region | quote }}
{{- end }}
{{- if .endpoint }}
- name: STORAGE_AMAZON_ENDPOINT
  value: {{ .endpoint | quote }}
{{- end }}
{{- if .sse }}
- name: STORAGE_AMAZON_SSE
  value: {{ .sse | quote }}
{{- end }}
{{- /* Always rendered: the server's default (true) must not silently override `false`. */}}
- name: STORAGE_AMAZON_FORCE_PATH_STYLE
  value: {{ ternary "true" "false" (ne (toString .forcePathStyle) "false") | quote }}
{{- if .existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret | quote }}
      key: {{ .accessKeyIdKey | default "AWS_ACCESS_KEY_ID" | quote }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret | quote }}
      key: {{ .secretAccessKeyKey | default "AWS_SECRET_ACCESS_KEY" | quote }}
{{- end }}
{{- end }}
{{- else if eq $type "google" }}
{{- with .Values.storage.google }}
- name: STORAGE_GOOGLE_BUCKET
  value: {{ .bucket | quote }}
{{- if .prefix }}
- name: STORAGE_GOOGLE_PREFIX
  value: {{ .prefix | quote }}
{{- end }}
{{- if .existingSecret }}
- name: GOOGLE_APPLICATION_CREDENTIALS
  value: {{ printf "/var/run/secrets/chartroom/google/%s" (.credentialsKey | default "credentials.json") | quote }}
{{- end }}
{{- end }}
{{- else if eq $type "microsoft" }}
{{- with .Values.storage.microsoft }}
- name: STORAGE_MICROSOFT_CONTAINER
  value: {{ .container | quote }}
{{- if .prefix }}
- name: STORAGE_MICROSOFT_PREFIX
  value: {{ .prefix | quote }}
{{- end }}
- name: AZURE_STORAGE_ACCOUNT
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret | quote }}
      key: {{ .accountKey | default "AZURE_STORAGE_ACCOUNT" | quote }}
- name: AZURE_STORAGE_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret | quote }}
      key: {{ .accessKeyKey | default "AZURE_STORAGE_ACCESS_KEY" | quote }}
{{- end }}
{{- end }}
{{- include "chartroom.authEnv" . }}
{{- range $name, $value := $open }}
{{- if and (include "chartroom.isSet" $value) (not (has $name $managed)) }}
- name: {{ $name | quote }}
  value: {{ include "chartroom.envValue" $value | quote }}
{{- end }}
{{- end }}
{{- range $name, $path := ((.Values.env).field | default dict) }}
{{- if $path }}
- name: {{ $name | quote }}
  valueFrom:
    fieldRef:
      fieldPath: {{ $path | quote }}
{{- end }}
{{- end }}
{{- $secretName := include "chartroom.secretName" . }}
{{- range $name, $value := ((.Values.env).secret | default dict) }}
{{- if include "chartroom.isSet" $value }}
- name: {{ $name | quote }}
  valueFrom:
    secretKeyRef:
      name: {{ $secretName | quote }}
      key: {{ $name | quote }}
{{- end }}
{{- end }}
{{- $existing := (.Values.env).existingSecret }}
{{- range $name, $key := ((.Values.env).existingSecretMappings | default dict) }}
{{- if $key }}
- name: {{ $name | quote }}
  valueFrom:
    secretKeyRef:
      name: {{ $existing | quote }}
      key: {{ $key | quote }}
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}
