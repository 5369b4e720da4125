#!/usr/bin/env bash
# Makes sure an etcd server binary is on PATH (tests start their own etcd on 127.0.0.1).
# Installs Debian's etcd-server when missing; tells what to do where it cannot.
set -euo pipefail
if command -v etcd >/dev/null 2>&1; then exit 0; fi
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
      echo "etcd is not installed and this user cannot apt-get: install etcd-server (Debian/Ubuntu) or put an etcd binary on PATH" >&2
      exit 1
    fi
  fi
  echo "== installing etcd-server (Debian package) for the coordinator tests"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null
  exit 0
fi
echo "etcd is not installed: install it (e.g. 'brew install etcd', or the etcd-server package) so that 'etcd' is on PATH" >&2
exit 1
