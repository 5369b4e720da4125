#!/usr/bin/env bash
# Makes sure a `helm` binary exists for linting, rendering and installing charts/skein. This machine
# reaches package registries only (no get.helm.sh), so helm is built once from its upstream Go module
# (helm.sh/helm/v4, the same way scripts/ensure-k8s.sh builds the Kubernetes binaries) into
#   ${SKEIN_CACHE:-$HOME/.cache/skein}/helm/<helm version>/bin/helm
# (never into the repo). Prints the path of the helm binary on the last line of stdout.
#
#   scripts/ensure-helm.sh           build helm when it is missing (first time: a few minutes)
#   scripts/ensure-helm.sh --check   build nothing; fail, naming the fix, when helm is missing
#
# helm is considered present when its stamp names the pinned version and `helm version` answers, so
# bumping the pin rebuilds it. The Go module cache is shared with ensure-k8s.sh; the build cache is
# helm's own (ensure-k8s.sh removes its build cache when it finishes, which must not pull the rug
# from under a concurrent helm build) and is removed after a successful build.
set -euo pipefail

HELM_VERSION=v4.3.2

mode=build
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

CACHE="${SKEIN_CACHE:-$HOME/.cache/skein}"
ROOT="$CACHE/helm/$HELM_VERSION"
BIN="$ROOT/bin"
SRC="$ROOT/src"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"

export GOFLAGS=-mod=mod GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0
export GOCACHE="$ROOT/go-build" GOMODCACHE="$CACHE/go-mod"
export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"

log() { echo "ensure-helm: $*" >&2; }

present() {
  [ -x "$BIN/helm" ] && [ "$(cat "$BIN/.helm.stamp" 2>/dev/null)" = "$HELM_VERSION" ] &&
    "$BIN/helm" version --short >/dev/null 2>&1
}

if present; then echo "$BIN/helm"; exit 0; fi

if [ "$mode" = check ]; then
  log "helm $HELM_VERSION missing or stale in $BIN — run scripts/ensure-helm.sh (make helm) once; it builds helm from its upstream Go module"
  exit 1
fi

if ! "$GO" version >/dev/null 2>&1; then
  log "Go is needed to build helm (go not found; set GO=/path/to/go)"
  exit 1
fi

mkdir -p "$BIN" "$SRC"
exec 9>"$ROOT/.lock"
if command -v flock >/dev/null 2>&1; then
  flock -n 9 || { log "another ensure-helm.sh is building in $ROOT; waiting for it"; flock 9; }
  # The other build may have finished what we came to do.
  if present; then echo "$BIN/helm"; exit 0; fi
fi

# A wrapper module that only requires helm at the pinned tag; go build resolves the rest (-mod=mod).
body="require helm.sh/helm/v4 $HELM_VERSION"
if [ ! -f "$SRC/go.mod" ] || [ "$(cat "$SRC/.want" 2>/dev/null)" != "$body" ]; then
  rm -f "$SRC/go.mod" "$SRC/go.sum"
  printf 'module skein.local/helm-build\n\ngo 1.26.0\n\n%s\n' "$body" >"$SRC/go.mod"
  echo "$body" >"$SRC/.want"
fi

# helm reports its version from internal/version (set by helm's own Makefile the same way); the
# Kubernetes version it reports to charts (.Capabilities) comes from its client-go dependency.
ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean"

start=$SECONDS
log "building helm $HELM_VERSION (first time only, a few minutes)…"
# Prints "still building …" every minute so a long, silent link step is not mistaken for a hang.
( while sleep 60; do log "  … still building helm ($(( (SECONDS - start) / 60 )) min)"; done ) &
ticker=$!
trap 'kill "$ticker" 2>/dev/null || true' EXIT
if ! (cd "$SRC" && "$GO" build -p "$(nproc 2>/dev/null || echo 2)" -trimpath -ldflags "$ldflags" \
      -o "$BIN/.helm.tmp" helm.sh/helm/v4/cmd/helm); then
  log "building helm failed"
  exit 1
fi
kill "$ticker" 2>/dev/null || true
wait "$ticker" 2>/dev/null || true
mv -f "$BIN/.helm.tmp" "$BIN/helm"
echo "$HELM_VERSION" >"$BIN/.helm.stamp"
present || { log "$BIN/helm does not answer 'helm version'"; rm -f "$BIN/.helm.stamp"; exit 1; }
log "built helm in $(( SECONDS - start )) s: $("$BIN/helm" version --short)"

# The build cache (~1 GB) only helps when the pin changes: drop it, keep the binary.
if [ -d "$GOCACHE" ]; then
  chmod -R u+w "$GOCACHE" 2>/dev/null || true
  rm -rf "$GOCACHE"
  log "removed the Go build cache ($GOCACHE); helm stays in $BIN"
fi
echo "$BIN/helm"
