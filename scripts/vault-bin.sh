#!/usr/bin/env bash
# vault-bin.sh prints the path of the Vault server binary keyroll's integration tests run,
# building it from the Go module proxy on first use and caching it by version outside the
# repository (first build: about 16 minutes on 2 cores with the module downloads; afterwards: instant).
exec "$(dirname "$0")/tool-bin.sh" vault
