// Package manifesttest has no code: its tests decode the manifests in deploy/kubernetes
// strictly into the Kubernetes API types, so that a misspelled or misplaced field fails
// instead of being silently dropped by the API server, and check the fields keyroll relies
// on. Run them with
//
//	cd deploy/kubernetes/manifesttest && go test ./...
package manifesttest
