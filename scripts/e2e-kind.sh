#!/usr/bin/env bash
# End to end on a real cluster with real containers, for machines with Docker and kind (it cannot
# run on the project's own machines, which have no container engine; e2e/helm-chart.int.test.ts
# checks the chart there against a local control plane with fake nodes instead):
#
#   1. kind create cluster            (a throwaway cluster, skein-e2e-<random>)
#   2. docker build                   (the repo's Dockerfile → skein:e2e-<random>)
#   3. kind load docker-image         (no registry needed)
#   4. helm install charts/skein      (the operator, running the built image)
#   5. kubectl apply examples/minimal.yaml, wait for the TracingCluster to be Ready
#   6. port-forward the ingest and querier Services, send a trace with the OpenTelemetry SDK
#      (OTLP/HTTP), read it back from the querier's Tempo API (/api/traces/<id>)
#   7. delete the cluster (also on failure; KEEP=1 keeps it for a look around)
#
# Needs: docker, kind, kubectl, node 24 with the repo's devDependencies installed (npm ci), and
# helm (scripts/ensure-helm.sh builds it when it is not on PATH). Every wait is bounded.
#
#   scripts/e2e-kind.sh
#   KEEP=1 scripts/e2e-kind.sh         leave the kind cluster running afterwards
#   TIMEOUT=600 scripts/e2e-kind.sh    seconds for the TracingCluster to become Ready (default 420)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUN="$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')"
CLUSTER="skein-e2e-$RUN"
IMAGE="skein:e2e-$RUN"
RELEASE=skein
OPERATOR_NS=skein-system
NS=tracing
TC=minimal                       # metadata.name in examples/minimal.yaml
TIMEOUT="${TIMEOUT:-420}"
CONTEXT="kind-$CLUSTER"

log() { echo "e2e-kind: $*" >&2; }
die() { log "FAILED: $*"; exit 1; }

for tool in docker kind kubectl node curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not on PATH (this script needs a machine with a container engine; see the header)"
done
docker info >/dev/null 2>&1 || die "docker is installed but its daemon does not answer (docker info)"
[ -d "$ROOT/node_modules/@opentelemetry/sdk-trace-base" ] || die "the OpenTelemetry SDK is missing: run npm ci in $ROOT first"
HELM="$(command -v helm || "$ROOT/scripts/ensure-helm.sh" | tail -1)"
k() { kubectl --context "$CONTEXT" "$@"; }

PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ "$rc" -ne 0 ]; then
    log "diagnostics (exit $rc):"
    k get tc,pods,pvc,svc -A -o wide >&2 2>/dev/null || true
    k -n "$NS" describe tc "$TC" >&2 2>/dev/null || true
    k -n "$OPERATOR_NS" logs "deployment/$RELEASE" --tail=100 >&2 2>/dev/null || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then
    log "KEEP=1: cluster $CLUSTER kept (kubectl --context $CONTEXT …; kind delete cluster --name $CLUSTER)"
  else
    log "deleting kind cluster $CLUSTER"
    kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  fi
  exit "$rc"
}
trap cleanup EXIT

# Waits up to $1 seconds for command "${@:3}" to succeed, saying what it waits for ($2).
wait_for() {
  local timeout=$1 what=$2 start=$SECONDS
  shift 2
  until "$@" >/dev/null 2>&1; do
    (( SECONDS - start < timeout )) || die "timed out after ${timeout}s waiting for $what"
    sleep 2
  done
  log "$what (after $(( SECONDS - start ))s)"
}

log "1/7 creating kind cluster $CLUSTER"
kind create cluster --name "$CLUSTER" --wait 120s

log "2/7 building $IMAGE"
docker build -t "$IMAGE" "$ROOT"

log "3/7 loading $IMAGE into the cluster"
kind load docker-image "$IMAGE" --name "$CLUSTER"

log "4/7 installing charts/skein (operator image $IMAGE)"
"$HELM" --kube-context "$CONTEXT" install "$RELEASE" "$ROOT/charts/skein" \
  --namespace "$OPERATOR_NS" --create-namespace \
  --set image.repository="${IMAGE%%:*}" --set image.tag="${IMAGE#*:}" --set image.pullPolicy=Never \
  --set logLevel=debug --wait --timeout 180s

log "5/7 applying examples/minimal.yaml in namespace $NS"
k create namespace "$NS"
# minimal.yaml keeps blocks on a 50Gi ReadWriteMany claim of the default StorageClass. kind's
# local-path provisioner makes ReadWriteOnce volumes only, so give the claim a static hostPath
# volume of that class to bind to (a single-node cluster: every pod sees the same directory).
default_class="$(k get storageclass -o jsonpath='{.items[?(@.metadata.annotations.storageclass\.kubernetes\.io/is-default-class=="true")].metadata.name}')"
[ -n "$default_class" ] || die "the kind cluster has no default StorageClass"
k apply -f - <<EOF
apiVersion: v1
kind: PersistentVolume
metadata:
  name: skein-e2e-blocks
spec:
  capacity: { storage: 50Gi }
  accessModes: [ReadWriteMany]
  storageClassName: $default_class
  persistentVolumeReclaimPolicy: Delete
  hostPath: { path: /var/local/skein-e2e-blocks, type: DirectoryOrCreate }
EOF
k -n "$NS" apply -f "$ROOT/examples/minimal.yaml"
log "waiting up to ${TIMEOUT}s for tc/$TC to be Ready"
if ! k -n "$NS" wait "tc/$TC" --for=condition=Ready --timeout="${TIMEOUT}s"; then
  die "tc/$TC did not become Ready within ${TIMEOUT}s"
fi
k -n "$NS" get tc "$TC" -o wide

log "6/7 sending a trace through the ingest Service and reading it back from the querier"
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
OTLP_PORT="$(free_port)"
TEMPO_PORT="$(free_port)"
k -n "$NS" port-forward "svc/$TC-ingest" "$OTLP_PORT:4318" >/dev/null 2>&1 &
PIDS+=($!)
k -n "$NS" port-forward "svc/$TC-querier" "$TEMPO_PORT:3200" >/dev/null 2>&1 &
PIDS+=($!)
wait_for 30 "ingest port-forward on 127.0.0.1:$OTLP_PORT" node -e "require('net').connect($OTLP_PORT,'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))"
wait_for 30 "querier port-forward on 127.0.0.1:$TEMPO_PORT" node -e "require('net').connect($TEMPO_PORT,'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))"

# A parent and a child span with the OpenTelemetry SDK over OTLP/HTTP (protobuf); prints the trace ID.
# --input-type=module resolves the imports from the working directory (the repo's node_modules).
TRACE_ID="$(cd "$ROOT" && OTLP_URL="http://127.0.0.1:$OTLP_PORT/v1/traces" node --input-type=module -e '
import { BasicTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { context, trace } from "@opentelemetry/api";
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ "service.name": "skein-e2e-kind" }),
  spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: process.env.OTLP_URL, timeoutMillis: 10000 }))],
});
const tracer = provider.getTracer("e2e-kind");
const parent = tracer.startSpan("checkout");
tracer.startSpan("charge-card", {}, trace.setSpan(context.active(), parent)).end();
parent.end();
await provider.forceFlush();
await provider.shutdown();
console.log(parent.spanContext().traceId);
')" || die "the OpenTelemetry SDK could not export to the ingest Service"
[[ "$TRACE_ID" =~ ^[0-9a-f]{32}$ ]] || die "no trace ID from the SDK script (got: $TRACE_ID)"
log "sent trace $TRACE_ID; querying the Tempo API"

# Spans are queryable once the shard owner has them (head included), so this should be quick.
spans=0
start=$SECONDS
while (( SECONDS - start < 60 )); do
  body="$(curl -fsS "http://127.0.0.1:$TEMPO_PORT/api/traces/$TRACE_ID" 2>/dev/null || true)"
  spans="$(printf '%s' "$body" | node -e '
    let t = ""; process.stdin.on("data", (c) => (t += c)).on("end", () => {
      try {
        const b = JSON.parse(t);
        const n = (b.resourceSpans ?? b.batches ?? []).flatMap((r) => r.scopeSpans ?? []).flatMap((s) => s.spans ?? []).length;
        console.log(n);
      } catch { console.log(0); }
    });')"
  [ "$spans" -ge 2 ] && break
  sleep 2
done
[ "$spans" -ge 2 ] || die "the querier did not return trace $TRACE_ID with its 2 spans within 60s (last body: ${body:-none})"
log "trace $TRACE_ID found with $spans spans"

log "7/7 passed; cleaning up"
