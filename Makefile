# keyroll — the README's two commands are `make demo` and `make test`.
.PHONY: demo test bench soak build image version vault clean docs

# VERSION is the one version of a release: `make build` stamps it into the binary, the image
# is tagged with it, and the Helm chart's appVersion is it (a test keeps them equal).
VERSION  := $(shell cat VERSION)
REVISION := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
MODIFIED := $(shell if git rev-parse --git-dir >/dev/null 2>&1; then test -z "$$(git status --porcelain)" && echo false || echo true; else echo unknown; fi)
CLI      := github.com/keyroll/keyroll/internal/cli
LDFLAGS  := -X $(CLI).version=$(VERSION) -X $(CLI).revision=$(REVISION) -X $(CLI).modified=$(MODIFIED)

build:
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/keyroll .

# image builds the container image from the Dockerfile with buildah (no daemon) into podman's
# storage as localhost/keyroll:$(VERSION), writes dist/keyroll-image.tar (OCI archive) and its
# CycloneDX SBOM, and prints the image reference last (scripts/image.sh).
image:
	@scripts/image.sh

# version prints VERSION, for scripts and the chart.
version:
	@echo $(VERSION)

# docs regenerates the command reference in docs/cli from the commands' help
# (internal/cli's TestCLIDocsCurrent fails when it is stale).
docs:
	go test ./internal/cli -run '^TestCLIDocsCurrent$$' -count=1 -update-docs

demo:
	scripts/demo.sh

test:
	scripts/test.sh

bench:
	scripts/bench.sh

soak:
	scripts/soak.sh

vault:
	scripts/vault-bin.sh

clean:
	rm -rf bin dist .demo cmd/soak/out
