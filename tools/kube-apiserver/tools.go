//go:build tools

// Package kubeapiservertool pins the kube-apiserver version used by keyroll's Kubernetes tests.
package kubeapiservertool

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
