// Package testenv is keyroll's one test environment: free loopback ports, child processes
// in their own process groups, and the real servers the tests, the soak and the benchmark
// run — Vault (dev mode, dev mode over TLS with a private CA, or file storage that survives
// restarts and seals) and the Prometheus Pushgateway.
//
// # Two ways in
//
// Programs (cmd/soak, cmd/bench) call the functions that return errors: [FreePort],
// [StartProc], [Group], [StartVault], [NewFileVault]. Tests call the helpers that take a
// testing.TB, skip when a binary is missing and stop the server when the test ends:
// [DevVault], [SharedVault], [TLSVault], [StartPushgateway].
//
// # Binaries
//
// Vault comes from $KEYROLL_VAULT_BIN, set by scripts/test.sh after scripts/vault-bin.sh
// built or found it; the Pushgateway from $KEYROLL_PUSHGATEWAY_BIN or PATH. Without them,
// tests that need them skip, except when CI=true, where they fail: CI must never pass on
// skipped integration tests.
//
// # A Vault with a private CA
//
// [TLSVault] (or [StartVault] with [VaultOptions.TLS]) serves HTTPS with a certificate
// signed by a CA that `vault server -dev-tls` generates. [VaultServer.Addr] is the
// https:// address, [VaultServer.CACert] the path of the PEM CA bundle to trust,
// [VaultServer.RootToken] the root token; [VaultServer.Env] gives the three as VAULT_ADDR,
// VAULT_CACERT and VAULT_TOKEN.
package testenv
