{{/* Names and labels. */}}
{{- define "driftd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "driftd.fullname" -}}
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

{{- define "driftd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "driftd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "driftd.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "driftd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: driftd
{{- end }}

{{- define "driftd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "driftd.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "driftd.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
driftd.envValue renders a config value as driftd parses it. YAML reads an
unquoted 2097152 as a float, which Go templates print as 2.097152e+06:
whole numbers are printed as integers.
*/}}
{{- define "driftd.envValue" -}}
{{- if kindIs "float64" . }}
{{- if eq . (floor .) }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- else if kindIs "invalid" . }}
{{- else }}{{ . }}{{ end }}
{{- end }}

{{/* The port of DRIFTD_HTTP_ADDR (":9108", "0.0.0.0:9108"). */}}
{{- define "driftd.httpPort" -}}
{{- $addr := include "driftd.envValue" .Values.config.DRIFTD_HTTP_ADDR }}
{{- $port := regexFind "[0-9]+$" $addr }}
{{- if not $port }}{{ fail (printf "config.DRIFTD_HTTP_ADDR %q has no port" $addr) }}{{ end }}
{{- $port }}
{{- end }}

{{/*
driftd.bytes converts a Kubernetes memory quantity (640Mi, 1.5Gi, 2G,
671088640) to bytes.
*/}}
{{- define "driftd.bytes" -}}
{{- $q := toString . }}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" $q }}
{{- $unit := trimPrefix $num $q }}
{{- $mult := dict "" 1 "k" 1000 "K" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 }}
{{- if or (not $num) (not (hasKey $mult $unit)) }}{{ fail (printf "cannot read the memory quantity %q" $q) }}{{ end }}
{{- mulf (float64 $num) (get $mult $unit) | floor | int64 }}
{{- end }}

{{/* Mount points. */}}
{{- define "driftd.referencesDir" -}}/etc/driftd/references{{- end }}
{{- define "driftd.policyFile" -}}/etc/driftd/policy/policy.json{{- end }}
{{- define "driftd.kafkaTLSDir" -}}/etc/driftd/kafka-tls{{- end }}
{{- define "driftd.webDir" -}}/etc/driftd/web{{- end }}

{{- define "driftd.hasReferences" -}}
{{- if or .Values.references.files .Values.references.existingConfigMaps }}true{{ end }}
{{- end }}

{{- define "driftd.saslSecret" -}}
{{- if .Values.kafka.sasl.existingSecret }}{{ .Values.kafka.sasl.existingSecret }}
{{- else if or .Values.kafka.sasl.username .Values.kafka.sasl.password }}{{ include "driftd.fullname" . }}-kafka-sasl
{{- end }}
{{- end }}
