#!/usr/bin/env bash
# Makes sure an S3-compatible server exists for the object-store conformance suite
# (common/storage/s3.int.test.ts starts it on 127.0.0.1 with a temp data dir and stops it by PID).
# The server is SeaweedFS — a production object store, not a mock — built once from its upstream Go
# module (github.com/seaweedfs/seaweedfs; this machine reaches package registries only), the same way
# scripts/ensure-helm.sh builds helm, into
#   ${SKEIN_CACHE:-$HOME/.cache/skein}/seaweedfs/<version>/bin/weed
# (never into the repo). Prints the path of the `weed` binary on the last line of stdout.
#
#   scripts/ensure-s3.sh           build weed when it is missing (first time: ~10 minutes on 2 cores)
#   scripts/ensure-s3.sh --check   build nothing; fail, naming the fix, when weed is missing
#
# weed is considered present when its stamp names the pinned version and `weed version` answers, so
# bumping the pin rebuilds it. The Go module cache is shared with ensure-k8s.sh and ensure-helm.sh;
# the build cache is this build's own and is removed after a successful build.
set -euo pipefail

# SeaweedFS tags its releases in a way the Go proxy cannot serve as semver (no /v3 module path), so
# the pin is a pseudo-version of a master commit.
SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6

mode=build
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

CACHE="${SKEIN_CACHE:-$HOME/.cache/skein}"
ROOT="$CACHE/seaweedfs/$SEAWEEDFS_VERSION"
BIN="$ROOT/bin"
SRC="$ROOT/src"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"

export GOFLAGS=-mod=mod GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0
export GOCACHE="$ROOT/go-build" GOMODCACHE="$CACHE/go-mod"
export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"

log() { echo "ensure-s3: $*" >&2; }

present() {
  [ -x "$BIN/weed" ] && [ "$(cat "$BIN/.weed.stamp" 2>/dev/null)" = "$SEAWEEDFS_VERSION" ] &&
    "$BIN/weed" version >/dev/null 2>&1
}

if present; then echo "$BIN/weed"; exit 0; fi

if [ "$mode" = check ]; then
  log "SeaweedFS $SEAWEEDFS_VERSION missing or stale in $BIN — run scripts/ensure-s3.sh (make s3) once; it builds weed from its upstream Go module"
  exit 1
fi

if ! "$GO" version >/dev/null 2>&1; then
  log "Go is needed to build SeaweedFS (go not found; set GO=/path/to/go)"
  exit 1
fi

mkdir -p "$BIN" "$SRC"
exec 9>"$ROOT/.lock"
if command -v flock >/dev/null 2>&1; then
  flock -n 9 || { log "another ensure-s3.sh is building in $ROOT; waiting for it"; flock 9; }
  # The other build may have finished what we came to do.
  if present; then echo "$BIN/weed"; exit 0; fi
fi

# A wrapper module that only requires seaweedfs at the pinned commit; go build resolves the rest
# (-mod=mod). SeaweedFS's own go.mod has one replace (go-bip39), which a dependency's replaces do not
# carry over, so it is repeated here. Its `go` line is the minimum toolchain it needs.
body="require github.com/seaweedfs/seaweedfs $SEAWEEDFS_VERSION

replace github.com/tyler-smith/go-bip39 => github.com/cosmos/go-bip39 v1.0.0"
if [ ! -f "$SRC/go.mod" ] || [ "$(cat "$SRC/.want" 2>/dev/null)" != "$body" ]; then
  rm -f "$SRC/go.mod" "$SRC/go.sum"
  printf 'module skein.local/seaweedfs-build\n\ngo 1.26.6\n\n%s\n' "$body" >"$SRC/go.mod"
  echo "$body" >"$SRC/.want"
fi

start=$SECONDS
log "building SeaweedFS $SEAWEEDFS_VERSION (first time only, ~10 minutes)…"
# Prints "still building …" every minute so a long, silent link step is not mistaken for a hang.
( while sleep 60; do log "  … still building weed ($(( (SECONDS - start) / 60 )) min)"; done ) &
ticker=$!
trap 'kill "$ticker" 2>/dev/null || true' EXIT
# No build tags: the default build is the one SeaweedFS ships (the optional stores — rocksdb, ydb,
# tikv… — stay out, which keeps the build smaller).
if ! (cd "$SRC" && "$GO" build -p "$(nproc 2>/dev/null || echo 2)" -trimpath -ldflags "-s -w" \
      -o "$BIN/.weed.tmp" github.com/seaweedfs/seaweedfs/weed); then
  log "building SeaweedFS failed"
  exit 1
fi
kill "$ticker" 2>/dev/null || true
wait "$ticker" 2>/dev/null || true
mv -f "$BIN/.weed.tmp" "$BIN/weed"
echo "$SEAWEEDFS_VERSION" >"$BIN/.weed.stamp"
present || { log "$BIN/weed does not answer 'weed version'"; rm -f "$BIN/.weed.stamp"; exit 1; }
log "built weed in $(( SECONDS - start )) s: $("$BIN/weed" version 2>&1 | head -1)"

# The build cache only helps when the pin changes: drop it, keep the binary.
if [ -d "$GOCACHE" ]; then
  chmod -R u+w "$GOCACHE" 2>/dev/null || true
  rm -rf "$GOCACHE"
  log "removed the Go build cache ($GOCACHE); weed stays in $BIN"
fi
echo "$BIN/weed"
