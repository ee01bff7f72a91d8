#!/usr/bin/env bash
# image.sh is `make image`: it builds keyroll's container image from the Dockerfile, unchanged,
# with buildah, into the machine's podman storage as localhost/keyroll:<version>, writes it as
# an OCI archive to dist/keyroll-image.tar (`podman load -i` it anywhere) and a CycloneDX SBOM
# of the binary's modules to dist/keyroll-image.sbom.cdx.json, and prints the image reference
# on its last line.
#
# The Dockerfile's base images (golang, gcr.io/distroless/static-debian12) cannot be pulled on
# the machines keyroll is built on, so the first run makes local stand-ins tagged with the same
# names, from Debian's packages: the distroless one has ca-certificates, tzdata's zoneinfo,
# /etc/passwd with nonroot (65532) and /tmp; the builder has this machine's Go toolchain and
# busybox-static as its shell, and reads modules from this machine's module cache (mounted
# read-only as a file:// GOPROXY), so the build needs no network. Where the real base images
# can be pulled, `docker build` of the same Dockerfile gives the same layout.
#
# The build is reproducible: the commit's time is every timestamp (--timestamp), so the same
# commit built twice gives the same image ID and digest. Run through scripts/container.sh,
# which holds this environment's podman and buildah flags.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
c="$root/scripts/container.sh"
"$c" ensure

# As the Makefile stamps `make build`: VERSION, the commit, and whether the tree was modified.
version=$(cat VERSION)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
modified=unknown
if git rev-parse --git-dir >/dev/null 2>&1; then
  if [ -z "$(git status --porcelain)" ]; then modified=false; else modified=true; fi
fi
epoch=$(git log -1 --format=%ct 2>/dev/null || echo 0)
ref="localhost/keyroll:$version"
go_version=$(awk '/^ARG GO_VERSION=/ {sub(/.*=/, ""); print; exit}' Dockerfile)
builder="docker.io/library/golang:$go_version"
base="gcr.io/distroless/static-debian12:nonroot"
standin_label="io.keyroll.standin=base image is a local stand-in made by scripts/image.sh from Debian packages"

# commit_standin CONTAINER IMAGE commits a stand-in with fixed timestamps (stable digest).
commit_standin() {
  "$c" buildah config --label "$standin_label" "$1" >/dev/null
  "$c" buildah commit --quiet --rm --timestamp 0 --identity-label=false "$1" "$2" >/dev/null
}

# distroless_standin makes $base: the files distroless/static's nonroot variant has.
distroless_standin() {
  local ctr mnt
  ctr=$("$c" buildah from scratch)
  mnt=$("$c" buildah mount "$ctr")
  mkdir -p "$mnt"/{etc/ssl/certs,usr/share,tmp,home/nonroot,root}
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$mnt/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$mnt/etc/group"
  cp /etc/ssl/certs/ca-certificates.crt "$mnt/etc/ssl/certs/"
  cp -a /usr/share/zoneinfo "$mnt/usr/share/"
  chmod 1777 "$mnt/tmp"
  chown 65532:65532 "$mnt/home/nonroot"
  chmod 700 "$mnt/home/nonroot" "$mnt/root"
  "$c" buildah umount "$ctr" >/dev/null
  "$c" buildah config --user 65532:65532 --workingdir /home/nonroot \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt "$ctr"
  commit_standin "$ctr" "$base"
}

# builder_standin makes $builder: this machine's Go toolchain and a busybox shell.
builder_standin() {
  local ctr mnt goroot
  goroot=$(go env GOROOT)
  ctr=$("$c" buildah from scratch)
  mnt=$("$c" buildah mount "$ctr")
  mkdir -p "$mnt"/{bin,etc/ssl/certs,tmp,root,go,usr/local/go}
  cp /bin/busybox "$mnt/bin/busybox"
  for applet in $(/bin/busybox --list); do [ -e "$mnt/bin/$applet" ] || ln -s busybox "$mnt/bin/$applet"; done
  tar -C "$goroot" --exclude=./test --exclude=./doc --exclude=./api --exclude=./misc -cf - . | tar -C "$mnt/usr/local/go" -xf -
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$mnt/etc/passwd"
  cp /etc/ssl/certs/ca-certificates.crt "$mnt/etc/ssl/certs/"
  chmod 1777 "$mnt/tmp"
  "$c" buildah umount "$ctr" >/dev/null
  "$c" buildah config --workingdir /go --env GOPATH=/go --env GOTOOLCHAIN=local \
    --env PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env GOPROXY=file:///var/cache/keyroll/goproxy --env GOSUMDB=off \
    --label "io.keyroll.standin.go=$(go env GOVERSION)" "$ctr"
  commit_standin "$ctr" "$builder"
}

if ! "$c" podman image exists "$base"; then
  echo "making the stand-in $base from Debian packages (first run on this machine only)" >&2
  distroless_standin
fi
if [ "$("$c" podman image inspect --format '{{index .Labels "io.keyroll.standin.go"}}' "$builder" 2>/dev/null)" != "$(go env GOVERSION)" ]; then
  echo "making the stand-in $builder from $(go env GOVERSION) (first run on this machine only)" >&2
  builder_standin
fi

# The modules the build stage's `go mod download` reads through the file:// proxy.
go mod download
mkdir -p dist "$(go env GOCACHE)"
echo "building $ref from Dockerfile (buildah, --timestamp $epoch)" >&2
start=$SECONDS
"$c" buildah build --quiet --pull=never --network none --timestamp "$epoch" --identity-label=false \
  -v "$(go env GOMODCACHE)/cache/download:/var/cache/keyroll/goproxy:ro" \
  -v "$(go env GOCACHE):/root/.cache/go-build" \
  --build-arg VERSION="$version" --build-arg REVISION="$revision" --build-arg MODIFIED="$modified" \
  -t "$ref" -f Dockerfile . >/dev/null
echo "built in $((SECONDS - start)) s" >&2

rm -f dist/keyroll-image.tar
"$c" buildah push --quiet "$ref" "oci-archive:$root/dist/keyroll-image.tar:$ref"

# The SBOM lists the modules compiled into the image's binary (its embedded build info).
cdx=$(scripts/tool-bin.sh cyclonedx-gomod)
mnt=$("$c" podman image mount "$ref")
trap '"$c" podman image unmount "$ref" >/dev/null' EXIT
"$cdx" bin -json -noserial -notimestamp -version "$version" -output dist/keyroll-image.sbom.cdx.json \
  "$mnt/usr/local/bin/keyroll" 2>/dev/null

"$c" podman image inspect --format "image ID {{.Id}}  digest {{.Digest}}  size {{.Size}} bytes" "$ref" >&2
echo "archive dist/keyroll-image.tar ($(du -k dist/keyroll-image.tar | cut -f1) KiB), SBOM dist/keyroll-image.sbom.cdx.json" >&2
echo "$ref"
