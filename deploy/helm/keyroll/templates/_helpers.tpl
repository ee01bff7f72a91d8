{{/* keyroll.name is the chart name, or nameOverride. */}}
{{- define "keyroll.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{/* keyroll.fullname is the name of the chart's objects: fullnameOverride, else the release name with the chart name added unless it contains it. */}}
{{- define "keyroll.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "keyroll.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* keyroll.serviceAccountName is the rotation pod's service account. */}}
{{- define "keyroll.serviceAccountName" -}}
{{- default (include "keyroll.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* keyroll.selectorLabels identify the rotation's pods. */}}
{{- define "keyroll.selectorLabels" -}}
app.kubernetes.io/name: {{ include "keyroll.name" . }}
app.kubernetes.io/component: rotation
{{- end -}}

{{/* keyroll.labels are set on every object of the rotation. */}}
{{- define "keyroll.labels" -}}
{{ include "keyroll.selectorLabels" . }}
{{ include "keyroll.releaseLabels" . }}
{{- end -}}

{{/* keyroll.listenerLabels are set on the listener sidecar's objects. */}}
{{- define "keyroll.listenerLabels" -}}
app.kubernetes.io/name: {{ include "keyroll.name" . }}
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

{{/* keyroll.image is repository@digest when a digest is given, else repository:tag (tag "" is the appVersion). */}}
{{- define "keyroll.image" -}}
{{- with .Values.image.digest -}}
{{- if not (regexMatch "^sha256:[0-9a-f]{64}$" .) -}}
{{- fail (printf "image.digest: want sha256:<64 lowercase hex digits>, got %q" .) -}}
{{- end -}}
{{- printf "%s@%s" $.Values.image.repository . -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
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
{{- if and .Values.prometheusRule.enabled (eq .Values.mode "cronjob") (not .Values.metrics.pushgateway) -}}
{{- fail "prometheusRule.enabled in mode cronjob needs metrics.pushgateway: the CronJob's metrics reach Prometheus only through a Pushgateway, and without them every alert is blind" -}}
{{- end -}}
{{- $e := .Values.evidence -}}
{{- if and (not $e.file) (or $e.signing.enabled $e.anchor) -}}
{{- fail "evidence.signing.enabled and evidence.anchor need evidence.file: only the file's records are signed and anchored (turn them off too, or keep the file)" -}}
{{- end -}}
{{- $a := .Values.vault.auth -}}
{{- if and (eq $a.method "token") (not (or $a.token.file $a.token.secretName)) -}}
{{- fail "vault.auth.method token needs vault.auth.token.secretName (a Secret with the token) or vault.auth.token.file" -}}
{{- end -}}
{{- if and (eq $a.method "approle") (not (and $a.approle.roleID $a.approle.secretIDSecretName)) -}}
{{- fail "vault.auth.method approle needs vault.auth.approle.roleID and vault.auth.approle.secretIDSecretName" -}}
{{- end -}}
{{- end -}}

{{/* keyroll.vaultTokenVolume is the projected service account token a pod logs in to Vault with (Kubernetes auth). */}}
{{- define "keyroll.vaultTokenVolume" -}}
- name: vault-token
  projected:
    sources:
      - serviceAccountToken:
          audience: {{ .Values.vault.auth.kubernetes.audience }}
          expirationSeconds: {{ .Values.vault.auth.kubernetes.tokenExpirationSeconds }}
          path: token
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
    {{- toYaml .Values.listenerSidecar.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
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

{{/* keyroll.notifyEnv is the environment variable holding the URL of notify entry .i. */}}
{{- define "keyroll.notifyEnv" -}}
{{- printf "KEYROLL_NOTIFY_%d_URL" (int .) -}}
{{- end -}}

{{/* keyroll.env is the keyroll container's environment. */}}
{{- define "keyroll.env" -}}
- name: VAULT_ADDR
  value: {{ .Values.vault.address }}
{{- if not .Values.digicert.apiKeyVault.path }}
- name: DIGICERT_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.digicert.apiKeySecret }}
      key: {{ .Values.digicert.apiKeySecretKey }}
{{- end }}
{{- range $i, $n := .Values.notify }}
{{- with $n.urlSecret }}
- name: {{ include "keyroll.notifyEnv" $i }}
  valueFrom:
    secretKeyRef:
      name: {{ .name }}
      key: {{ .key }}
{{- end }}
{{- end }}
- name: GOMEMLIMIT
  valueFrom:
    resourceFieldRef:
      containerName: keyroll
      resource: limits.memory
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* keyroll.vaultAuthVolumes are the volumes of the Vault login: the projected token (kubernetes), the token Secret (token) or the secret_id Secret (approle). */}}
{{- define "keyroll.vaultAuthVolumes" -}}
{{- $a := .Values.vault.auth -}}
{{- if eq $a.method "kubernetes" }}
{{ include "keyroll.vaultTokenVolume" . }}
{{- else if and (eq $a.method "token") (not $a.token.file) }}
- name: vault-token
  secret:
    secretName: {{ $a.token.secretName }}
    defaultMode: 0400
    items:
      - key: {{ $a.token.secretKey }}
        path: token
{{- else if eq $a.method "approle" }}
- name: vault-token
  secret:
    secretName: {{ $a.approle.secretIDSecretName }}
    defaultMode: 0400
    items:
      - key: {{ $a.approle.secretIDSecretKey }}
        path: secret-id
{{- end }}
{{- end -}}

{{/* keyroll.podSpec is the pod of the CronJob and of the schedule Deployment; .args are keyroll's arguments. */}}
{{- define "keyroll.podSpec" -}}
{{- $ := .root -}}
serviceAccountName: {{ include "keyroll.serviceAccountName" $ }}
automountServiceAccountToken: false   # only the projected Vault token below
enableServiceLinks: false
{{- with $.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $.Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
# SIGTERM lets a running rotation reach a safe point; every step is resumable anyway.
terminationGracePeriodSeconds: 60
securityContext:
  {{- toYaml $.Values.podSecurityContext | nindent 2 }}
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
      {{- include "keyroll.env" $ | nindent 6 }}
    resources:
      {{- toYaml $.Values.resources | nindent 6 }}
    securityContext:
      {{- toYaml $.Values.securityContext | nindent 6 }}
    volumeMounts:
      - name: config
        mountPath: /etc/keyroll
        readOnly: true
      {{- if include "keyroll.vaultAuthVolumes" $ }}
      - name: vault-token
        mountPath: /var/run/secrets/vault
        readOnly: true
      {{- end }}
      {{- if $.Values.evidence.file }}
      - name: evidence
        mountPath: {{ dir $.Values.evidence.file }}
      {{- end }}
      {{- with $.Values.extraVolumeMounts }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
volumes:
  - name: config
    configMap:
      name: {{ include "keyroll.fullname" $ }}-config
      items:
        - key: config.yaml
          path: config.yaml
  {{- include "keyroll.vaultAuthVolumes" $ | nindent 2 }}
  {{- if $.Values.evidence.file }}
  - name: evidence
    persistentVolumeClaim:
      claimName: {{ default (printf "%s-evidence" (include "keyroll.fullname" $)) $.Values.evidence.existingClaim }}
  {{- end }}
  {{- with $.Values.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* keyroll.podMetadata is the rotation pod template's metadata; .checksum adds the config's checksum (mode schedule: a config change rolls the pod). */}}
{{- define "keyroll.podMetadata" -}}
{{- $ := .root -}}
labels:
  {{- include "keyroll.labels" $ | nindent 2 }}
  {{- with $.Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- if or $.Values.podAnnotations .checksum }}
annotations:
  {{- if .checksum }}
  checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") $ | sha256sum }}
  {{- end }}
  {{- with $.Values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
{{- end -}}
