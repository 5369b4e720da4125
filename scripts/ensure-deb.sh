#!/usr/bin/env bash
# Makes sure `command` is on PATH, installing Debian package `package` when it is missing (as root or
# through sudo); tells what to do where it cannot. Usage: ensure-deb.sh <command> <package> <what for>
set -euo pipefail
[[ $# -eq 3 ]] || { echo "usage: $0 <command> <package> <what it is for>" >&2; exit 2; }
cmd="$1" pkg="$2" why="$3"
if command -v "$cmd" >/dev/null 2>&1; then exit 0; fi
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
      echo "$cmd is not installed and this user cannot apt-get: install $pkg (Debian/Ubuntu) or put $cmd on PATH ($why)" >&2
      exit 1
    fi
  fi
  echo "== installing $pkg (Debian package) for $why" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
  exit 0
fi
echo "$cmd is not installed: install it (package $pkg on Debian/Ubuntu) so that '$cmd' is on PATH ($why)" >&2
exit 1
