{{/*
Chart name, truncated to the 63 characters of a DNS label.
*/}}
{{- define "callfocus.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-<chart>, or the release name alone if it already contains the chart name.
*/}}
{{- define "callfocus.fullname" -}}
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
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "callfocus.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: name + instance. Workloads add app.kubernetes.io/component (see below) so the
topics job's pods never count as workers.
*/}}
{{- define "callfocus.selectorLabels" -}}
app.kubernetes.io/name: {{ include "callfocus.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Selector labels of the worker pods.
*/}}
{{- define "callfocus.workerSelectorLabels" -}}
{{ include "callfocus.selectorLabels" . }}
app.kubernetes.io/component: worker
{{- end }}

{{/*
Kubernetes recommended labels without the component; callers add it with "callfocus.labels".
*/}}
{{- define "callfocus.commonLabels" -}}
helm.sh/chart: {{ include "callfocus.chart" . }}
{{ include "callfocus.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/part-of: callfocus
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Recommended labels of an object. Usage: include "callfocus.labels" (dict "ctx" $ "component" "worker")
*/}}
{{- define "callfocus.labels" -}}
{{ include "callfocus.commonLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Name of the workers' ServiceAccount.
*/}}
{{- define "callfocus.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "callfocus.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Worker image reference: repository:tag, or repository@digest when a digest is given.
*/}}
{{- define "callfocus.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
Kafka security protocol, derived from kafka.sasl.enabled and kafka.tls.enabled.
*/}}
{{- define "callfocus.kafkaSecurityProtocol" -}}
{{- if and .Values.kafka.sasl.enabled .Values.kafka.tls.enabled -}}
SASL_SSL
{{- else if .Values.kafka.sasl.enabled -}}
SASL_PLAINTEXT
{{- else if .Values.kafka.tls.enabled -}}
SSL
{{- else -}}
PLAINTEXT
{{- end -}}
{{- end }}

{{/* Paths inside the containers. */}}
{{- define "callfocus.dataDir" -}}/var/lib/callfocus{{- end }}
{{- define "callfocus.kafkaCaDir" -}}/etc/callfocus/kafka-ca{{- end }}
{{- define "callfocus.filesDir" -}}/etc/callfocus/files{{- end }}
{{- define "callfocus.trackersDir" -}}/etc/callfocus/trackers{{- end }}

{{/* The ConfigMap holding the trackers file: the chart's own, or an existing one. */}}
{{- define "callfocus.trackersConfigMap" -}}
{{- .Values.trackers.existingConfigMap | default (printf "%s-trackers" (include "callfocus.fullname" .)) }}
{{- end }}

{{/*
True (non-empty) when the chart renders the files ConfigMap (nudge rules and/or lexicon).
*/}}
{{- define "callfocus.hasFiles" -}}
{{- if or .Values.config.nudgeRules .Values.config.lexicon }}true{{ end }}
{{- end }}

{{/*
Fails rendering on values that would deploy a broken or wasteful release.
*/}}
{{- define "callfocus.validate" -}}
{{- $partitions := int .Values.kafka.topics.partitions }}
{{- if gt (int .Values.replicaCount) $partitions }}
{{- fail (printf "replicaCount (%d) is larger than kafka.topics.partitions (%d): a Kafka consumer group gives each partition to one worker, so %d worker(s) would sit idle. Lower replicaCount or raise kafka.topics.partitions." (int .Values.replicaCount) $partitions (sub (int .Values.replicaCount) $partitions)) }}
{{- end }}
{{- if .Values.autoscaling.enabled }}
{{- if gt (int .Values.autoscaling.maxReplicas) $partitions }}
{{- fail (printf "autoscaling.maxReplicas (%d) is larger than kafka.topics.partitions (%d): workers beyond the partition count get no partition and sit idle. Lower autoscaling.maxReplicas or raise kafka.topics.partitions." (int .Values.autoscaling.maxReplicas) $partitions) }}
{{- end }}
{{- if gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas) }}
{{- fail (printf "autoscaling.minReplicas (%d) is larger than autoscaling.maxReplicas (%d)." (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- end }}
{{- if and (not .Values.autoscaling.targetCPUUtilizationPercentage) (not .Values.autoscaling.targetMemoryUtilizationPercentage) }}
{{- fail "autoscaling.enabled needs autoscaling.targetCPUUtilizationPercentage and/or autoscaling.targetMemoryUtilizationPercentage." }}
{{- end }}
{{- end }}
{{- if and (eq .Values.config.privacy.redactionMode "hash") (not .Values.secrets.redactionHashKey.existingSecret) }}
{{- fail "config.privacy.redactionMode hash needs secrets.redactionHashKey.existingSecret: unkeyed hashes of card and social security numbers are reversed by trying every number." }}
{{- end }}
{{- if .Values.kafka.sasl.enabled }}
{{- if not .Values.kafka.sasl.existingSecret }}
{{- fail "kafka.sasl.enabled needs kafka.sasl.existingSecret: the name of an existing Secret holding the SASL password (key kafka.sasl.passwordKey)." }}
{{- end }}
{{- if and (not .Values.kafka.sasl.username) (not .Values.kafka.sasl.usernameKey) }}
{{- fail "kafka.sasl.enabled needs kafka.sasl.username (or kafka.sasl.usernameKey in kafka.sasl.existingSecret)." }}
{{- end }}
{{- end }}
{{- if .Values.trackers.enabled }}
{{- if not (or .Values.trackers.file .Values.trackers.existingConfigMap) }}
{{- fail "trackers.enabled needs trackers.file (the file's content, e.g. --set-file trackers.file=deploy/trackers/examples.toml) or trackers.existingConfigMap." }}
{{- end }}
{{- if and .Values.trackers.file .Values.trackers.existingConfigMap }}
{{- fail "trackers.file and trackers.existingConfigMap are both set: the file comes from one of them." }}
{{- end }}
{{- end }}
{{- if and .Values.kafka.tls.caSecret (not .Values.kafka.tls.enabled) }}
{{- fail "kafka.tls.caSecret is set but kafka.tls.enabled is false." }}
{{- end }}
{{- end }}

{{/*
CALLFOCUS_* environment of the workers and the topics job. Secrets come from existing Secrets
(valueFrom secretKeyRef); values never hold a password.
*/}}
{{- define "callfocus.env" -}}
- name: CALLFOCUS_KAFKA_BOOTSTRAP
  value: {{ .Values.kafka.bootstrapServers | quote }}
- name: CALLFOCUS_KAFKA_CONNECT_TIMEOUT_SECONDS
  value: {{ .Values.kafka.connectTimeoutSeconds | quote }}
- name: CALLFOCUS_KAFKA_SECURITY_PROTOCOL
  value: {{ include "callfocus.kafkaSecurityProtocol" . | quote }}
{{- if .Values.kafka.sasl.enabled }}
- name: CALLFOCUS_KAFKA_SASL_MECHANISM
  value: {{ .Values.kafka.sasl.mechanism | quote }}
{{- if .Values.kafka.sasl.usernameKey }}
- name: CALLFOCUS_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ .Values.kafka.sasl.existingSecret }}
      key: {{ .Values.kafka.sasl.usernameKey }}
{{- else }}
- name: CALLFOCUS_KAFKA_SASL_USERNAME
  value: {{ .Values.kafka.sasl.username | quote }}
{{- end }}
- name: CALLFOCUS_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.kafka.sasl.existingSecret }}
      key: {{ .Values.kafka.sasl.passwordKey }}
{{- end }}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.caSecret }}
- name: CALLFOCUS_KAFKA_SSL_CAFILE
  value: {{ printf "%s/%s" (include "callfocus.kafkaCaDir" .) .Values.kafka.tls.caKey | quote }}
{{- end }}
- name: CALLFOCUS_TOPIC_PREFIX
  value: {{ .Values.kafka.topics.prefix | quote }}
- name: CALLFOCUS_TOPIC_PARTITIONS
  value: {{ .Values.kafka.topics.partitions | int64 | quote }}
- name: CALLFOCUS_TOPIC_REPLICATION
  value: {{ .Values.kafka.topics.replication | int64 | quote }}
- name: CALLFOCUS_TOPIC_RETENTION_MS
  value: {{ .Values.kafka.topics.retentionMs | toJson | quote }}
- name: CALLFOCUS_APP_ID
  value: {{ .Values.config.appId | quote }}
- name: CALLFOCUS_WEB_HOST
  value: "0.0.0.0"
- name: CALLFOCUS_WEB_PORT
  value: {{ .Values.webPort | int64 | quote }}
{{- with .Values.metricsPort }}
- name: CALLFOCUS_METRICS_PORT
  value: {{ . | int64 | quote }}
{{- end }}
- name: CALLFOCUS_DATA_DIR
  value: {{ include "callfocus.dataDir" . | quote }}
- name: CALLFOCUS_STORE
  value: {{ .Values.config.store | quote }}
- name: CALLFOCUS_PROCESSING_GUARANTEE
  value: {{ .Values.config.processingGuarantee | quote }}
- name: CALLFOCUS_TABLE_STANDBY_REPLICAS
  value: {{ .Values.config.tableStandbyReplicas | int64 | quote }}
- name: CALLFOCUS_SESSION_TIMEOUT_SECONDS
  value: {{ .Values.config.sessionTimeoutSeconds | toString | quote }}
- name: CALLFOCUS_LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
- name: CALLFOCUS_SNAPSHOT_INTERVAL_SECONDS
  value: {{ .Values.config.snapshotIntervalSeconds | toString | quote }}
- name: CALLFOCUS_IDLE_TIMEOUT_SECONDS
  value: {{ .Values.config.idleTimeoutSeconds | toString | quote }}
- name: CALLFOCUS_IMPLICIT_START
  value: {{ .Values.config.implicitStart | toString | quote }}
- name: CALLFOCUS_ENDED_CALL_MEMORY_SECONDS
  value: {{ .Values.config.endedCallMemorySeconds | toString | quote }}
- name: CALLFOCUS_MAX_RECORD_BYTES
  value: {{ .Values.config.maxRecordBytes | int64 | quote }}
- name: CALLFOCUS_MAX_EXPORTED_CALLS
  value: {{ .Values.config.maxExportedCalls | int64 | quote }}
- name: CALLFOCUS_PER_CALL_SERIES
  value: {{ .Values.config.perCallSeries | toString | quote }}
- name: CALLFOCUS_EXPORT_GRACE_SECONDS
  value: {{ .Values.config.exportGraceSeconds | toString | quote }}
- name: CALLFOCUS_MAX_EXPORTED_TEAMS
  value: {{ .Values.config.maxExportedTeams | int64 | quote }}
- name: CALLFOCUS_MAX_EXPORTED_QUEUES
  value: {{ .Values.config.maxExportedQueues | int64 | quote }}
{{- with .Values.config.exportedTeams }}
- name: CALLFOCUS_EXPORTED_TEAMS
  value: {{ toJson . | quote }}
{{- end }}
{{- with .Values.config.exportedQueues }}
- name: CALLFOCUS_EXPORTED_QUEUES
  value: {{ toJson . | quote }}
{{- end }}
- name: CALLFOCUS_EXPORTED_LABEL_GRACE_SECONDS
  value: {{ .Values.config.exportedLabelGraceSeconds | toString | quote }}
- name: CALLFOCUS_LANGUAGE
  value: {{ .Values.config.language | quote }}
- name: CALLFOCUS_ROLE_CHECK
  value: {{ .Values.config.roleCheck | quote }}
- name: CALLFOCUS_NUDGES_ENABLED
  value: {{ .Values.config.nudges.enabled | toString | quote }}
- name: CALLFOCUS_NUDGE_SNIPPETS
  value: {{ .Values.config.nudges.snippets | toString | quote }}
- name: CALLFOCUS_NUDGE_INTERVAL_SECONDS
  value: {{ .Values.config.nudges.intervalSeconds | toString | quote }}
- name: CALLFOCUS_NUDGE_WEBHOOK_TIMEOUT_SECONDS
  value: {{ .Values.config.nudges.webhookTimeoutSeconds | toString | quote }}
- name: CALLFOCUS_NUDGE_WEBHOOK_RETRIES
  value: {{ .Values.config.nudges.webhookRetries | int64 | quote }}
{{- with .Values.secrets.nudgeWebhookUrl }}
{{- if .existingSecret }}
- name: CALLFOCUS_NUDGE_WEBHOOK_URL
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .key }}
{{- end }}
{{- end }}
{{- with .Values.config.console }}
- name: CALLFOCUS_CONSOLE_SUMMARY_HISTORY_DAYS
  value: {{ .summaryHistoryDays | toString | quote }}
- name: CALLFOCUS_CONSOLE_MAX_SUMMARIES_PER_AGENT
  value: {{ .maxSummariesPerAgent | int64 | quote }}
- name: CALLFOCUS_CONSOLE_MAX_SUMMARIES
  value: {{ .maxSummaries | int64 | quote }}
- name: CALLFOCUS_CONSOLE_MAX_ACKS
  value: {{ .maxAcks | int64 | quote }}
- name: CALLFOCUS_CONSOLE_MAX_SCORECARD_CELLS
  value: {{ .maxScorecardCells | int64 | quote }}
{{- end }}
{{- with .Values.config.scorecards }}
- name: CALLFOCUS_SCORECARD_DAYS
  value: {{ .days | int64 | quote }}
- name: CALLFOCUS_SCORECARD_TIMEZONE
  value: {{ .timezone | quote }}
- name: CALLFOCUS_SCORECARD_MAX_EXPORTED_AGENTS
  value: {{ .maxExportedAgents | int64 | quote }}
{{- end }}
- name: CALLFOCUS_REDACTION_MODE
  value: {{ .Values.config.privacy.redactionMode | quote }}
- name: CALLFOCUS_DEAD_LETTER_ORIGINAL
  value: {{ .Values.config.privacy.deadLetterOriginal | toString | quote }}
{{- with .Values.secrets.redactionHashKey }}
{{- if .existingSecret }}
- name: CALLFOCUS_REDACTION_HASH_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .key }}
{{- end }}
{{- end }}
{{- with .Values.secrets.consoleToken }}
{{- if .existingSecret }}
- name: CALLFOCUS_CONSOLE_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .key }}
{{- end }}
{{- end }}
{{- range $name, $value := .Values.config.extra }}
- name: {{ printf "CALLFOCUS_%s" $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Volume of the Kafka CA bundle (only with kafka.tls.caSecret).
*/}}
{{- define "callfocus.kafkaCaVolume" -}}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.tls.caSecret }}
    items:
      - key: {{ .Values.kafka.tls.caKey }}
        path: {{ .Values.kafka.tls.caKey }}
{{- end }}
{{- end }}

{{- define "callfocus.kafkaCaMount" -}}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.caSecret }}
- name: kafka-ca
  mountPath: {{ include "callfocus.kafkaCaDir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/*
The port name Prometheus scrapes: "metrics" with a metricsPort of its own, else "http".
*/}}
{{- define "callfocus.metricsPortName" -}}
{{- if .Values.metricsPort }}metrics{{ else }}http{{ end }}
{{- end }}

{{/*
config.nudgeRules as the TOML file the worker reads (CALLFOCUS_NUDGE_RULES_FILE): one table per
rule, `[monologue]` `threshold = 90`. Numbers are written as Go prints them (90, 0.75, -0.35),
which TOML reads as the same value; the worker keeps its defaults for fields left out.
*/}}
{{- define "callfocus.nudgeRulesToml" -}}
{{- $first := true }}
{{- range $rule, $fields := . }}
{{- if not $first }}{{ "\n" }}{{ end }}
{{- $first = false }}
{{- printf "[%s]" $rule }}
{{- range $key, $value := $fields }}
{{- if kindIs "string" $value }}
{{ $key }} = {{ $value | quote }}
{{- else if kindIs "bool" $value }}
{{ $key }} = {{ $value }}
{{- else }}
{{ $key }} = {{ $value | toString }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The supervisors' OIDC settings (config.console.oidc), of the workers only: they serve the
console, and a JWKS file is mounted in their pods alone.
*/}}
{{- define "callfocus.oidcJwksDir" -}}/etc/callfocus/oidc{{- end }}
{{- define "callfocus.consoleOidcEnv" -}}
{{- with .Values.config.console.oidc }}
{{- if or .jwksUrl .jwksConfigMap }}
{{- if and .jwksUrl .jwksConfigMap }}
{{- fail "config.console.oidc: jwksUrl and jwksConfigMap are both set: the keys come from one of them" }}
{{- end }}
{{- if not (and .issuer .audience) }}
{{- fail "config.console.oidc: the JWKS needs issuer and audience (the console would accept any provider's tokens)" }}
{{- end }}
{{- if .jwksUrl }}
- name: CALLFOCUS_CONSOLE_OIDC_JWKS_URL
  value: {{ .jwksUrl | quote }}
{{- else }}
- name: CALLFOCUS_CONSOLE_OIDC_JWKS_FILE
  value: {{ printf "%s/%s" (include "callfocus.oidcJwksDir" $) .jwksConfigMapKey | quote }}
{{- end }}
- name: CALLFOCUS_CONSOLE_OIDC_ISSUER
  value: {{ .issuer | quote }}
- name: CALLFOCUS_CONSOLE_OIDC_AUDIENCE
  value: {{ .audience | quote }}
- name: CALLFOCUS_CONSOLE_OIDC_TEAMS_CLAIM
  value: {{ .teamsClaim | quote }}
- name: CALLFOCUS_CONSOLE_OIDC_TEAMS_PREFIX
  value: {{ .teamsPrefix | quote }}
- name: CALLFOCUS_CONSOLE_OIDC_SUBJECT_CLAIM
  value: {{ .subjectClaim | quote }}
- name: CALLFOCUS_CONSOLE_OIDC_LEEWAY_SECONDS
  value: {{ .leewaySeconds | toString | quote }}
- name: CALLFOCUS_CONSOLE_OIDC_JWKS_TIMEOUT_SECONDS
  value: {{ .jwksTimeoutSeconds | toString | quote }}
- name: CALLFOCUS_CONSOLE_OIDC_JWKS_CACHE_SECONDS
  value: {{ .jwksCacheSeconds | toString | quote }}
- name: CALLFOCUS_CONSOLE_OIDC_JWKS_REFRESH_SECONDS
  value: {{ .jwksRefreshSeconds | toString | quote }}
{{- end }}
{{- end }}
{{- end }}
