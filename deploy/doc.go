// Package deploy has no code. Its tests check keyroll's deployment artifacts from the root
// module: that the Dockerfile's build command makes a static binary, that .dockerignore
// keeps the sources the build needs, and that the Kubernetes ConfigMap's config.yaml is a
// valid keyroll configuration. The Kubernetes manifests themselves are decoded strictly
// against the Kubernetes API types in the separate module kubernetes/manifesttest, which
// keeps those heavy dependencies out of keyroll's go.mod.
package deploy
