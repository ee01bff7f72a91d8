# syntax=docker/dockerfile:1
#
# keyroll's container image: one static binary on distroless, running as nonroot (65532).
#
#   docker build --build-arg VERSION="$(cat VERSION)" --build-arg REVISION="$(git rev-parse HEAD)" -t keyroll:$(cat VERSION) .
#
# `make image` (scripts/image.sh) builds this file unchanged with buildah, reproducibly, into
# podman's storage; deploy/kubernetes/manifesttest's TestContainer runs it as the chart's pods.
#   docker run --rm --read-only -v keyroll-evidence:/var/lib/keyroll \
#     -v "$PWD/config.yaml:/etc/keyroll/config.yaml:ro" -e DIGICERT_API_KEY -e VAULT_TOKEN keyroll
#
# The root file system can be read-only: the only path keyroll writes is the optional evidence
# file (evidence.file in config.yaml), which belongs on the volume /var/lib/keyroll, e.g.
# /var/lib/keyroll/evidence.jsonl. The config is read from $KEYROLL_CONFIG
# (/etc/keyroll/config.yaml) unless --config says otherwise.
#
# deploy/dockerfile_test.go runs the build stage's `go build` line below, exactly as written,
# and checks that it makes a static binary: keep that command on one line.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
ARG MODIFIED=unknown
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X github.com/keyroll/keyroll/internal/cli.version=${VERSION} -X github.com/keyroll/keyroll/internal/cli.revision=${REVISION} -X github.com/keyroll/keyroll/internal/cli.modified=${MODIFIED}" -o /out/keyroll .
RUN mkdir -p /out/var/lib/keyroll

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="keyroll" \
      org.opencontainers.image.description="Rotates the shared secret of a DigiCert CertCentral webhook through HashiCorp Vault" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/keyroll/keyroll" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/keyroll /usr/local/bin/keyroll
COPY --from=build --chown=65532:65532 /out/var/lib/keyroll /var/lib/keyroll
ENV KEYROLL_CONFIG=/etc/keyroll/config.yaml
USER 65532:65532
VOLUME ["/var/lib/keyroll"]
ENTRYPOINT ["/usr/local/bin/keyroll"]
CMD ["run"]
