#!/usr/bin/env bash
# soak.sh is `make soak`: it builds keyroll and the soak driver (cmd/soak/), finds the cached
# Vault server (scripts/vault-bin.sh) and runs hundreds of rotations under randomized
# faults — a real Vault server with file storage killed, restarted and sealed, the
# CertCentral simulator failing, keyroll and listener replicas killed — while it rotates
# the webhook's secret and the DigiCert API key the webhook runs authenticate with,
# checking keyroll's invariants all along (docs/reliability.md). Its last line is
#   soak: N rotations, F faults, D deliveries, R rejected, V invariant violations, seed S
# and it exits 1 when R or V is not zero. Logs stay in cmd/soak/out/<seed>/.
#
# Environment: SOAK_ROTATIONS (default 300), SOAK_SEED (default: drawn from the clock and
# printed; set it to replay a run), SOAK_ARGS (more driver flags, see `go run ./cmd/soak -h`).
#
# `scripts/soak.sh selftest` builds keyroll with each bug the soak must catch (build tags
# soakbug_*, see internal/soakbug) and fails unless the soak reports a violation for each;
# DigiCert's PUT then does not contact the endpoint, which would refuse the key first.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out="$root/cmd/soak/out"
mkdir -p "$out"
vault_bin=$(scripts/vault-bin.sh)
go build -o "$out/soak" ./cmd/soak

if [ "${1:-}" = selftest ]; then
  for bug in soakbug_skipwait soakbug_ignorepending soakbug_keeporphans; do
    CGO_ENABLED=0 go build -trimpath -tags "$bug" -o "$out/keyroll-$bug" .
    dir="$out/selftest-$bug"
    rm -rf "$dir"
    echo "soak selftest: keyroll built with $bug"
    extra=()
    # Orphans come from lost creates: every run that rotates the API key loses one.
    [ "$bug" = soakbug_keeporphans ] && extra=(-only key-create-response-lost -fault-rate 1)
    if ! "$out/soak" -keyroll "$out/keyroll-$bug" -vault "$vault_bin" -repo "$root" -dir "$dir" \
      -rotations 15 -seed "${SOAK_SEED:-1}" -update-contact never -fail-fast -expect-violation "${extra[@]}" >"$dir.out" 2>&1; then
      cat "$dir.out" >&2
      echo "soak selftest: FAILED: the soak did not catch $bug" >&2
      exit 1
    fi
    grep -m1 '^VIOLATION' "$dir.out" | sed "s/^/soak selftest: $bug caught: /"
  done
  echo "soak selftest: every injected bug was caught"
  exit 0
fi

CGO_ENABLED=0 go build -trimpath -o "$out/keyroll" .
seed=${SOAK_SEED:-$(( $(date +%s%N) % 1000000000 + 1 ))}
dir="$out/$seed"
rm -rf "$dir"
# shellcheck disable=SC2086
exec "$out/soak" -keyroll "$out/keyroll" -vault "$vault_bin" -repo "$root" -dir "$dir" \
  -rotations "${SOAK_ROTATIONS:-300}" -seed "$seed" ${SOAK_ARGS:-}
