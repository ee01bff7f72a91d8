#!/usr/bin/env bash
# container.sh is the one place that knows how podman and buildah must be called on the machines
# keyroll is built and tested on. Everything that runs a container (scripts/image.sh, the
# container tests in deploy/containertest) goes through it:
#
#   scripts/container.sh ensure            install what is missing (Debian packages, as root)
#   scripts/container.sh podman ARGS...    podman with this environment's flags
#   scripts/container.sh buildah ARGS...   buildah with this environment's flags
#
# The flags, and why:
#   --storage-driver vfs          overlay is not available inside these machines; vfs is.
#   --runtime runc                crun fails with "cgroups in hybrid mode not supported".
#   --cgroup-manager cgroupfs     there is no systemd to manage cgroups.
#   --events-backend file         there is no journald.
#   --ulimit nofile=N:N, nproc=N:N on run/create/build: setting the default rlimits is not
#                                 permitted here, so the limits are passed explicitly: the
#                                 caller's hard limits, capped at 65536 files and 32768
#                                 processes (runc is refused nproc equal to the hard limit).
# ensure installs podman, buildah, runc, skopeo and (for the image's stand-in base images)
# busybox-static, ca-certificates and tzdata with apt-get when running as root; otherwise it
# says what is missing and exits 1.
set -euo pipefail
global=(--storage-driver vfs)
# capped LIMIT MAX prints LIMIT, or MAX when LIMIT is larger or unlimited.
capped() { if [ "$1" = unlimited ] || [ "$1" -gt "$2" ]; then echo "$2"; else echo "$1"; fi; }
nofile=$(capped "$(ulimit -Hn)" 65536)
nproc=$(capped "$(ulimit -Hu)" 32768)
ulimits=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")

ensure() {
  local need=()
  command -v podman >/dev/null || need+=(podman)
  command -v buildah >/dev/null || need+=(buildah)
  command -v runc >/dev/null || need+=(runc)
  command -v skopeo >/dev/null || need+=(skopeo)
  [ -x /bin/busybox ] || need+=(busybox-static)
  [ -s /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
  [ -d /usr/share/zoneinfo/Asia ] || need+=(tzdata)
  [ ${#need[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${need[*]} (Debian packages; first run on this machine only)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${need[@]}" >/dev/null ||
      { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; }
    return 0
  fi
  echo "container.sh: missing ${need[*]}: install the Debian packages of that name (apt-get install ${need[*]})" >&2
  return 1
}

cmd=${1:?usage: container.sh ensure | podman ARGS... | buildah ARGS...}
shift
case $cmd in
  ensure) ensure ;;
  podman)
    global+=(--runtime runc --cgroup-manager cgroupfs --events-backend file)
    case ${1:-} in
      run | create) sub=$1; shift; exec podman "${global[@]}" "$sub" "${ulimits[@]}" "$@" ;;
      *) exec podman "${global[@]}" "$@" ;;
    esac ;;
  buildah)
    export BUILDAH_RUNTIME=runc
    case ${1:-} in
      build | bud) sub=$1; shift; exec buildah "${global[@]}" --cgroup-manager cgroupfs "$sub" "${ulimits[@]}" "$@" ;;
      *) exec buildah "${global[@]}" --cgroup-manager cgroupfs "$@" ;;
    esac ;;
  *) echo "container.sh: unknown command $cmd" >&2; exit 2 ;;
esac
