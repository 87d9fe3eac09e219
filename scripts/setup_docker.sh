#!/usr/bin/env bash
# Bring up a local Docker engine (and gVisor) on a Debian machine where we are root. Idempotent:
# does nothing when `docker info` already answers. Used by `make sandboxes` / `make test` / `make train`.
set -euo pipefail

if docker info >/dev/null 2>&1; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
  if [ "$(id -u)" != "0" ]; then
    echo "setup_docker: no Docker engine reachable and not root. Fix: install docker.io, debootstrap and runsc" \
         "(apt-get install docker.io debootstrap runsc) and start dockerd, or set DOCKER_HOST." >&2
    exit 1
  fi
  echo "setup_docker: installing docker.io debootstrap runsc from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap runsc >/dev/null
fi

# gVisor as an optional runtime (`sandbox.runtime: runsc`); it needs --network=none inside the runtime args.
if command -v runsc >/dev/null 2>&1 && [ ! -s /etc/docker/daemon.json ]; then
  mkdir -p /etc/docker
  cat > /etc/docker/daemon.json <<JSON
{"runtimes": {"runsc": {"path": "$(command -v runsc)", "runtimeArgs": ["--network=none"]}}}
JSON
fi

if ! docker info >/dev/null 2>&1; then
  echo "setup_docker: starting dockerd (log: /var/log/dockerd.log)"
  (setsid dockerd >/var/log/dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
fi

if ! docker info >/dev/null 2>&1; then
  echo "setup_docker: dockerd did not come up within 60 s; see /var/log/dockerd.log" >&2
  tail -20 /var/log/dockerd.log >&2 || true
  exit 1
fi
echo "setup_docker: engine up ($(docker info --format '{{.ServerVersion}} {{.Driver}}'))"
