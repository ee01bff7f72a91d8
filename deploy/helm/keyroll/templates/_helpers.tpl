{{/* keyroll.fullname is the name of the chart's objects: the release name, with "-keyroll" added unless it contains it. */}}
{{- define "keyroll.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* keyroll.selectorLabels identify the rotation's pods. */}}
{{- define "keyroll.selectorLabels" -}}
app.kubernetes.io/name: keyroll
app.kubernetes.io/component: rotation
{{- end -}}

{{/* keyroll.labels are set on every object of the rotation. */}}
{{- define "keyroll.labels" -}}
{{ include "keyroll.selectorLabels" . }}
{{ include "keyroll.releaseLabels" . }}
{{- end -}}

{{/* keyroll.listenerLabels are set on the listener sidecar's objects. */}}
{{- define "keyroll.listenerLabels" -}}
app.kubernetes.io/name: keyroll
app.kubernetes.io/component: listener
{{ include "keyroll.releaseLabels" . }}
{{- end -}}

{{/* keyroll.releaseLabels name the Helm release. */}}
{{- define "keyroll.releaseLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* keyroll.image is repository@digest when a digest is given, else repository:tag. */}}
{{- define "keyroll.image" -}}
{{- with .Values.image.digest -}}
{{- if not (regexMatch "^sha256:[0-9a-f]{64}$" .) -}}
{{- fail (printf "image.digest: want sha256:<64 lowercase hex digits>, got %q" .) -}}
{{- end -}}
{{- printf "%s@%s" $.Values.image.repository . -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag -}}
{{- end -}}
{{- end -}}

{{/* keyroll.checkMode fails on an unknown mode or an option the mode cannot have. */}}
{{- define "keyroll.checkMode" -}}
{{- if not (has .Values.mode (list "cronjob" "schedule")) -}}
{{- fail (printf "mode: want cronjob or schedule, got %q" .Values.mode) -}}
{{- end -}}
{{- if and .Values.serviceMonitor.enabled (ne .Values.mode "schedule") -}}
{{- fail "serviceMonitor.enabled needs mode: schedule (a CronJob's pod is gone before it is scraped; push its metrics to a Pushgateway instead)" -}}
{{- end -}}
{{- end -}}

{{/* keyroll.vaultTokenVolume is the projected service account token the pod logs in to Vault with. */}}
{{- define "keyroll.vaultTokenVolume" -}}
- name: vault-token
  projected:
    sources:
      - serviceAccountToken:
          audience: {{ .Values.vault.audience }}
          expirationSeconds: {{ .Values.vault.tokenExpirationSeconds }}
          path: token
{{- end -}}

{{/* keyroll.podSecurityContext and keyroll.containerSecurityContext meet the restricted Pod Security profile. */}}
{{- define "keyroll.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
# Change the evidence volume's ownership only when its root does not match yet:
# a recursive change on every mount would add group bits to the 0600 evidence
# file, and keyroll refuses to append to an evidence file others may access.
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "keyroll.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* keyroll.listenerSidecar is the verifying `keyroll listen --upstream` container to add to the pod of a webhook receiver (see NOTES.txt). */}}
{{- define "keyroll.listenerSidecar" -}}
- name: keyroll-listener
  image: {{ include "keyroll.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: ["listen", "--config", "/etc/keyroll/config.yaml", "--addr", ":{{ .Values.listenerSidecar.port }}", "--target", {{ .Values.listenerSidecar.target | quote }}, "--upstream", {{ .Values.listenerSidecar.upstream | quote }}, "--tls-cert", "/etc/keyroll/tls/tls.crt", "--tls-key", "/etc/keyroll/tls/tls.key", "--admin-addr", ":{{ .Values.listenerSidecar.adminPort | default 9090 }}"]
  ports:
    - name: webhook
      containerPort: {{ .Values.listenerSidecar.port }}
    - name: admin
      containerPort: {{ .Values.listenerSidecar.adminPort | default 9090 }}
  readinessProbe:
    httpGet:
      path: /healthz
      port: admin
    periodSeconds: 10
  env:
    - name: VAULT_ADDR
      value: {{ .Values.vault.address }}
  resources:
    requests:
      cpu: 10m
      memory: 32Mi
    limits:
      memory: 64Mi
  securityContext:
    {{- include "keyroll.containerSecurityContext" . | nindent 4 }}
  volumeMounts:
    - name: keyroll-listener-config
      mountPath: /etc/keyroll
      readOnly: true
    - name: keyroll-listener-tls
      mountPath: /etc/keyroll/tls
      readOnly: true
    - name: vault-token
      mountPath: /var/run/secrets/vault
      readOnly: true
{{- end -}}

{{/* keyroll.listenerSidecarVolumes are the volumes keyroll.listenerSidecar mounts. */}}
{{- define "keyroll.listenerSidecarVolumes" -}}
- name: keyroll-listener-config
  configMap:
    name: {{ include "keyroll.fullname" . }}-listener-config
- name: keyroll-listener-tls
  secret:
    secretName: {{ .Values.listenerSidecar.tlsSecret }}
{{ include "keyroll.vaultTokenVolume" . }}
{{- end -}}

{{/* keyroll.podSpec is the pod of the CronJob and of the schedule Deployment; .args are keyroll's arguments. */}}
{{- define "keyroll.podSpec" -}}
{{- $ := .root -}}
serviceAccountName: {{ $.Values.serviceAccount.name }}
automountServiceAccountToken: false   # only the projected Vault token below
enableServiceLinks: false
# SIGTERM lets a running rotation reach a safe point; every step is resumable anyway.
terminationGracePeriodSeconds: 60
securityContext:
  {{- include "keyroll.podSecurityContext" $ | nindent 2 }}
containers:
  - name: keyroll
    image: {{ include "keyroll.image" $ }}
    imagePullPolicy: {{ $.Values.image.pullPolicy }}
    args: {{ .args | toJson }}
    {{- with .ports }}
    ports:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    env:
      - name: VAULT_ADDR
        value: {{ $.Values.vault.address }}
      - name: DIGICERT_API_KEY
        valueFrom:
          secretKeyRef:
            name: {{ $.Values.digicert.apiKeySecret }}
            key: {{ $.Values.digicert.apiKeySecretKey }}
      - name: GOMEMLIMIT
        valueFrom:
          resourceFieldRef:
            containerName: keyroll
            resource: limits.memory
    resources:
      {{- toYaml $.Values.resources | nindent 6 }}
    securityContext:
      {{- include "keyroll.containerSecurityContext" $ | nindent 6 }}
    volumeMounts:
      - name: config
        mountPath: /etc/keyroll
        readOnly: true
      - name: vault-token
        mountPath: /var/run/secrets/vault
        readOnly: true
      - name: evidence
        mountPath: /var/lib/keyroll
volumes:
  - name: config
    configMap:
      name: {{ include "keyroll.fullname" $ }}-config
      items:
        - key: config.yaml
          path: config.yaml
  {{- include "keyroll.vaultTokenVolume" $ | nindent 2 }}
  - name: evidence
    persistentVolumeClaim:
      claimName: {{ include "keyroll.fullname" $ }}-evidence
{{- end -}}
