#!/usr/bin/env bash
# Makes sure the Kubernetes test binaries exist (DESIGN.md §11): kube-apiserver,
# kube-controller-manager and kube-scheduler of one Kubernetes release (plus its kubectl, which the
# harness uses to read any KUBECONFIG and people use to look inside a test cluster), an etcd that
# release supports, and KWOK for fake nodes. This machine has no container engine, so kind cannot
# run; instead each binary is built once from its upstream Go module into
#   ${SKEIN_CACHE:-$HOME/.cache/skein}/k8s/<kubernetes version>/bin/
# (never into the repo), together with kwok-stages.yaml — KWOK's own default "fast" node and pod
# stages taken from the same KWOK module. Prints the bin dir on the last line.
#
#   scripts/ensure-k8s.sh           build what is missing (first time: tens of minutes on 2 cores)
#   scripts/ensure-k8s.sh --check   build nothing; fail, naming the fix, when anything is missing
#
# Each binary is considered present when its stamp names the pinned version and it answers
# --version, so bumping a pin below rebuilds just that binary. Go's build and module caches live
# under the same cache dir, so a CI machine that keeps it rebuilds nothing.
set -euo pipefail

# One Kubernetes release; every k8s.io/* staging module at its published tag for that release.
K8S_VERSION=v1.37.2
STAGING_VERSION=v0.37.2
# etcd 3.6 (Debian's 3.4.23 is below what Kubernetes supports); its server module holds `main`.
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0

mode=build
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

CACHE="${SKEIN_CACHE:-$HOME/.cache/skein}"
ROOT="$CACHE/k8s/$K8S_VERSION"
BIN="$ROOT/bin"
SRC="$ROOT/src"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
# The e2e/k8s harness makes its PKI with the openssl CLI.
"$(dirname "$0")/ensure-deb.sh" openssl openssl "the Kubernetes test PKI" >&2

export GOFLAGS=-mod=mod GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0
export GOCACHE="$CACHE/go-build" GOMODCACHE="$CACHE/go-mod"
export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"

log() { echo "ensure-k8s: $*" >&2; }

# name → "version" the stamp must hold
declare -A WANT=(
  [kube-apiserver]="$K8S_VERSION"
  [kube-controller-manager]="$K8S_VERSION"
  [kube-scheduler]="$K8S_VERSION"
  [kubectl]="$K8S_VERSION"
  [etcd]="$ETCD_VERSION"
  [kwok]="$KWOK_VERSION"
  [kwok-stages.yaml]="$KWOK_VERSION"
)
ORDER=(etcd kwok kwok-stages.yaml kube-apiserver kube-controller-manager kube-scheduler kubectl)

present() {
  local name=$1
  [ -f "$BIN/$name" ] && [ "$(cat "$BIN/.$name.stamp" 2>/dev/null)" = "${WANT[$name]}" ] || return 1
  case "$name" in
    *.yaml) return 0 ;;
    kubectl) "$BIN/$name" version --client >/dev/null 2>&1 ;;
    *) "$BIN/$name" --version >/dev/null 2>&1 ;;
  esac
}

missing=()
for name in "${ORDER[@]}"; do present "$name" || missing+=("$name"); done
if [ "${#missing[@]}" -eq 0 ]; then echo "$BIN"; exit 0; fi

if [ "$mode" = check ]; then
  log "missing or stale in $BIN: ${missing[*]} — run scripts/ensure-k8s.sh (make k8s) once; it builds them from the upstream Go modules"
  exit 1
fi

if ! "$GO" version >/dev/null 2>&1; then
  log "Go is needed to build the Kubernetes test binaries (go not found; set GO=/path/to/go)"
  exit 1
fi

mkdir -p "$BIN" "$SRC"
# Two builds at once (make test-int and a second shell) would fight over the same outputs.
exec 9>"$ROOT/.lock"
if command -v flock >/dev/null 2>&1; then
  flock -n 9 || { log "another ensure-k8s.sh is building in $ROOT; waiting for it"; flock 9; }
fi

# Prints "still building …" every minute so a long, silent link step is not mistaken for a hang.
build() {
  local name=$1 version=$2 dir=$3 pkg=$4 ldflags=$5
  local start=$SECONDS ticker
  log "building $name $version (first time only, several minutes)…"
  ( while sleep 60; do log "  … still building $name ($(( (SECONDS - start) / 60 )) min)"; done ) &
  ticker=$!
  if ! (cd "$dir" && "$GO" build -p "$(nproc 2>/dev/null || echo 2)" -trimpath -ldflags "-s -w $ldflags" -o "$BIN/.$name.tmp" "$pkg"); then
    kill "$ticker" 2>/dev/null || true
    log "building $name failed"
    exit 1
  fi
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  mv -f "$BIN/.$name.tmp" "$BIN/$name"
  echo "$version" >"$BIN/.$name.stamp"
  present "$name" || { log "$BIN/$name does not answer --version"; rm -f "$BIN/.$name.stamp"; exit 1; }
  log "built $name in $(( SECONDS - start )) s"
}

# A wrapper module that only requires `module@version`; go build resolves the rest (-mod=mod).
wrapper() {
  local dir=$1 body=$2
  mkdir -p "$dir"
  if [ ! -f "$dir/go.mod" ] || [ "$(cat "$dir/.want" 2>/dev/null)" != "$body" ]; then
    rm -f "$dir/go.mod" "$dir/go.sum"
    printf 'module skein.local/k8s-build/%s\n\ngo 1.26.0\n\n%s\n' "$(basename "$dir")" "$body" >"$dir/go.mod"
    echo "$body" >"$dir/.want"
  fi
}

want_build() { [[ " ${missing[*]} " == *" $1 "* ]]; }

# etcd: go.etcd.io/etcd/server/v3 is the `etcd` main package. Its own go.mod replaces its sibling
# modules with ../ paths (ignored for a dependency), so pin the siblings to the same tag.
if want_build etcd; then
  dir="$SRC/etcd"
  wrapper "$dir" "require (
	go.etcd.io/etcd/server/v3 $ETCD_VERSION
	go.etcd.io/etcd/api/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/pkg/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/v3 $ETCD_VERSION
	go.etcd.io/etcd/pkg/v3 $ETCD_VERSION
)"
  build etcd "$ETCD_VERSION" "$dir" go.etcd.io/etcd/server/v3 "-X go.etcd.io/etcd/api/v3/version.GitSHA=${ETCD_VERSION}"
fi

# KWOK has its own module graph (its own k8s.io/* release), so it gets its own wrapper.
if want_build kwok || want_build kwok-stages.yaml; then
  dir="$SRC/kwok"
  wrapper "$dir" "require sigs.k8s.io/kwok $KWOK_VERSION"
  if want_build kwok; then
    build kwok "$KWOK_VERSION" "$dir" sigs.k8s.io/kwok/cmd/kwok "-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}"
  fi
  # The `kwok` binary has no built-in stages (kwokctl writes them into its config); these are the
  # ones kwokctl uses by default: node init + lease heartbeat, pod ready/complete/delete.
  kdir="$(cd "$dir" && "$GO" list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
  {
    first=1
    for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
             pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
      [ "$first" = 1 ] || echo '---'
      first=0
      cat "$kdir/kustomize/stage/$f"
    done
  } >"$BIN/.kwok-stages.yaml.tmp"
  mv -f "$BIN/.kwok-stages.yaml.tmp" "$BIN/kwok-stages.yaml"
  echo "$KWOK_VERSION" >"$BIN/.kwok-stages.yaml.stamp"
fi

# Kubernetes: k8s.io/kubernetes requires every staging module as v0.0.0 and replaces it with
# ./staging/src/k8s.io/<name>, which only works inside its own repo. Replace each with the tag
# published for this release instead; the list comes from the release's own go.mod.
if want_build kube-apiserver || want_build kube-controller-manager || want_build kube-scheduler || want_build kubectl; then
  dir="$SRC/kubernetes"
  mkdir -p "$dir"
  k8s_mod="$(cd "$dir" && "$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
  [ -f "$k8s_mod" ] || { log "could not download k8s.io/kubernetes@$K8S_VERSION"; exit 1; }
  staging="$(sed -n 's#^[[:space:]]*\(k8s.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/src/.*#\1#p' "$k8s_mod" | sort -u)"
  [ -n "$staging" ] || { log "no staging replaces found in $k8s_mod"; exit 1; }
  replaces="$(for m in $staging; do printf '\t%s => %s %s\n' "$m" "$m" "$STAGING_VERSION"; done)"
  wrapper "$dir" "require k8s.io/kubernetes $K8S_VERSION

replace (
$replaces
)"
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  vflags=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    vflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.gitCommit=$K8S_VERSION"
  done
  for name in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    want_build "$name" && build "$name" "$K8S_VERSION" "$dir" "k8s.io/kubernetes/cmd/$name" "$vflags"
  done
fi

for name in "${ORDER[@]}"; do present "$name" || { log "$name still missing after the build"; exit 1; }; done
# Go's build cache of these builds is ~4.6 GB and only helps when a pin changes: drop it, keep the binaries.
if [ -d "$GOCACHE" ]; then
  chmod -R u+w "$GOCACHE" 2>/dev/null || true
  rm -rf "$GOCACHE"
  log "removed the Go build cache ($GOCACHE); the binaries stay in $BIN"
fi
log "ready: $("$BIN/kube-apiserver" --version), $("$BIN/etcd" --version | head -1), kwok $KWOK_VERSION"
echo "$BIN"
