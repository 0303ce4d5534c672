{{/* The install's namespace. */}}
{{- define "mirrord.ns" -}}{{ .Values.namespace }}{{- end }}

{{- define "mirrord.labels" -}}
app.kubernetes.io/part-of: mirrord-teams
{{- end }}

{{- define "mirrord.image" -}}
image: {{ printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) | quote }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
{{- end }}

{{/* Scheduling and pull secrets every pod of the chart takes. */}}
{{- define "mirrord.podExtras" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The bundled NATS pods by name (each one's DNS name in the headless Service), or the external URL. */}}
{{- define "mirrord.natsUrl" -}}
{{- if .Values.nats.bundled -}}
{{- $urls := list -}}
{{- range $i := until (int .Values.nats.replicas) -}}
{{- $urls = append $urls (printf "tls://mirrord-nats-%d.mirrord-nats:4222" $i) -}}
{{- end -}}
{{- join "," $urls -}}
{{- else -}}
{{- required "nats.external.url: set the external NATS URL (tls://host:4222) when nats.bundled is false" .Values.nats.external.url -}}
{{- end -}}
{{- end }}

{{- define "mirrord.natsReplicas" -}}
{{- if .Values.nats.bundled }}{{ .Values.nats.replicas }}{{ else }}{{ .Values.nats.external.streamReplicas }}{{ end -}}
{{- end }}

{{/* Each service reaches NATS over TLS as its own nkey user (the bootstrap Job's Secrets). */}}
{{- define "mirrord.natsEnv" -}}
- {name: NATS_URL, value: {{ include "mirrord.natsUrl" . | quote }}}
- {name: NATS_NKEY_FILE, value: /etc/mirrord/nats/nkey}
- {name: NATS_CA_FILE, value: /etc/mirrord/nats/ca.crt}
- {name: NATS_REPLICAS, value: {{ include "mirrord.natsReplicas" . | quote }}}
{{- end }}

{{/* Its own NATS seed (no other service's) and the NATS servers' CA. Call with (list $ "<identity>"). */}}
{{- define "mirrord.natsVolume" -}}
{{- $root := index . 0 -}}
- name: nats
  projected:
    sources:
    - secret: {name: mirrord-nats-{{ index . 1 }}, items: [{key: nkey, path: nkey}]}
    - secret: {name: {{ if $root.Values.nats.bundled }}mirrord-nats-ca{{ else }}{{ $root.Values.nats.external.caSecret }}{{ end }}, items: [{key: ca.crt, path: ca.crt}]}
{{- end }}

{{/* Health on 8081; liveness does not depend on NATS (a restart would not bring NATS back). */}}
{{- define "mirrord.healthProbes" -}}
ports:
- {containerPort: 8081, name: health}
livenessProbe:
  httpGet: {path: /healthz, port: health}
  initialDelaySeconds: 15
  periodSeconds: 10
readinessProbe:
  httpGet: {path: /readyz, port: health}
  periodSeconds: 5
{{- end }}

{{- define "mirrord.gatewayTlsSecret" -}}{{ .Values.tls.gateway.existingSecret | default "mirrord-gateway-tls" }}{{- end }}
{{- define "mirrord.operatorCaSecret" -}}{{ .Values.tls.operatorCa.existingSecret | default "mirrord-operator-ca" }}{{- end }}

{{/* The licence Secret the gateway mounts, if any. */}}
{{- define "mirrord.licenseSecret" -}}
{{- if .Values.license.existingSecret }}{{ .Values.license.existingSecret }}{{ else if .Values.license.file.data }}mirrord-license{{ end -}}
{{- end }}
