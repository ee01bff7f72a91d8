#!/usr/bin/env bash
# test.sh is keyroll's test command (`make test`): it builds or finds the cached Vault
# server, checks formatting and vet, runs every test with the race detector against the real
# Vault, the Kubernetes manifest tests, the container image built and run as the chart's
# pods run it (podman, buildah), short fuzz runs, and a short soak under faults.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v go >/dev/null || { echo "test.sh: Go is required (https://go.dev/dl/)" >&2; exit 2; }
# openssl (Debian's) verifies evidence in scripts/verify-evidence.sh and is the local RFC 3161
# Time-Stamp Authority of the timestamp tests (internal/tsatest).
openssl_ensure() {
  if ! command -v openssl >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssl >/dev/null ||
      { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssl >/dev/null; }
  fi
}
# On a fresh machine the Debian packages the tests use install while Vault compiles: apt waits
# on the network and the disk, the build on the CPU. Each step below runs again where it is
# needed (a no-op once installed), and that is where a missing package fails or skips.
packages_log=$(mktemp)
( scripts/prometheus-tools.sh || true; openssl_ensure || true; scripts/container.sh ensure || true
  scripts/etcd-bin.sh >/dev/null || true ) >"$packages_log" 2>&1 &
packages_pid=$!
KEYROLL_VAULT_BIN=$(scripts/vault-bin.sh)
export KEYROLL_VAULT_BIN
KEYROLL_JCS_NODE_PATH=$(scripts/jcs-dir.sh)
export KEYROLL_JCS_NODE_PATH
wait "$packages_pid" || true
cat "$packages_log" >&2
rm -f "$packages_log"
scripts/prometheus-tools.sh
openssl_ensure

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" $unformatted >&2
  exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test -race (Vault: $KEYROLL_VAULT_BIN)"
go test -race -count=1 -timeout 20m ./...

echo "== the webhook port under hostile traffic (without -race: the detector slows every TLS handshake)"
go test -count=1 -run '^TestHostileTraffic$' ./listener/

echo "== container image (make image: the Dockerfile built with buildah)"
# Under CI=true a missing podman or buildah fails; elsewhere the container tests skip.
if scripts/container.sh ensure; then
  KEYROLL_IMAGE=$(scripts/image.sh | tail -n 1)
  export KEYROLL_IMAGE
elif [ "${CI:-}" = true ]; then
  echo "podman/buildah missing: CI must build and run the image" >&2
  exit 1
else
  echo "podman/buildah missing: image build and container tests skipped"
fi

if [ -d deploy/kubernetes/manifesttest ]; then
  echo "== manifests, Helm chart, both on a real Kubernetes API server with Vault's Kubernetes login, and the image run as the chart's pods (podman)"
  KEYROLL_HELM_BIN=$(scripts/tool-bin.sh helm)
  KEYROLL_KUBE_APISERVER_BIN=$(scripts/tool-bin.sh kube-apiserver)
  KEYROLL_ETCD_BIN=$(scripts/etcd-bin.sh)
  export KEYROLL_HELM_BIN KEYROLL_KUBE_APISERVER_BIN KEYROLL_ETCD_BIN
  (cd deploy/kubernetes/manifesttest && go vet ./... && go test -count=1 -timeout 20m ./...)
fi

echo "== prometheus rules (promtool test rules)"
if command -v promtool >/dev/null; then
  promtool check rules deploy/prometheus/keyroll-rules.yaml
  (cd deploy/prometheus && promtool test rules keyroll-rules_test.yaml)
elif [ "${CI:-}" = true ]; then
  echo "promtool missing: CI must run the rule tests" >&2
  exit 1
else
  echo "promtool missing: rule tests skipped"
fi

echo "== fuzz (short)"
go test -run='^$' -fuzz='^FuzzParse$' -fuzztime=5s ./internal/config/
if grep -qs 'func FuzzClientResponse' certcentral/*_test.go; then
  go test -run='^$' -fuzz='^FuzzClientResponse$' -fuzztime=10s ./certcentral/
fi
echo "== soak (short: 30 rotations under faults) and its self-test (injected bugs are caught)"
SOAK_ROTATIONS=30 scripts/soak.sh
scripts/soak.sh selftest
echo "== all tests passed"
