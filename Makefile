# Skein — every target runs on the project's pinned Node 24 (node_modules/.bin/node from the `node`
# npm package), never on the machine's system Node.
SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

DATA_DIR ?= ./data

.PHONY: all deps build gen gen-check etcd k8s helm s3 typecheck lint test test-unit test-int run cluster bench soak clean check-node e2e-kind

all: build

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.package-lock.json

check-node: deps
	@node -e 'const m=+process.versions.node.split(".")[0]; if (m!==24) { console.error("expected Node 24 from node_modules/.bin, got "+process.version); process.exit(1) }'

build: check-node
	tsc -p tsconfig.build.json

typecheck: check-node
	tsc -p tsconfig.json --noEmit

lint: check-node
	eslint . --max-warnings 0

# Generated from operator/api (STYLE.md rule 4): the TracingCluster CRD, for kubectl and for Helm.
GEN_DIRS := crds charts/skein/crds

gen: build
	@scripts/gen-crds.sh $(GEN_DIRS)

# Regenerates into a temp dir and fails on any difference from what is committed.
gen-check: build
	@tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	scripts/gen-crds.sh $(addprefix $$tmp/,$(GEN_DIRS)); \
	ok=1; for d in $(GEN_DIRS); do diff -ru "$$d" "$$tmp/$$d" || ok=0; done; \
	if [[ $$ok != 1 ]]; then echo "gen-check: generated files differ from operator/api — run 'make gen' and commit crds/ and charts/skein/crds/" >&2; exit 1; fi

test-unit: check-node
	vitest run --project unit

etcd:
	@scripts/ensure-etcd.sh

# kube-apiserver, controller-manager, scheduler, etcd 3.6 and KWOK for e2e/k8s, built once from the
# upstream Go modules into ~/.cache/skein/k8s/<version>/ (never the repo); fast when cached.
k8s:
	@scripts/ensure-k8s.sh >/dev/null

# helm for the chart test, built once from its Go module (helm.sh/helm/v4) into ~/.cache/skein/helm/<version>/bin/.
helm:
	@scripts/ensure-helm.sh >/dev/null

# SeaweedFS, the S3-compatible server the object-store conformance suite (common/storage) starts,
# built once from its Go module into ~/.cache/skein/seaweedfs/<version>/bin/ (never the repo).
s3:
	@scripts/ensure-s3.sh >/dev/null

test-int: build etcd k8s helm s3
	vitest run --project integration

# The whole suite: typecheck + lint + generated files up to date + unit + integration.
test: typecheck lint gen-check test-unit test-int

# All-in-one: OTLP in (gRPC 4317, HTTP 4318), Tempo API (3200) and Jaeger API (16686) out.
run: build
	node dist/cli/skein.js all-in-one --data-dir $(DATA_DIR)

# Local cluster: etcd + shard controller + 3 ingesters + querier as separate processes (README).
cluster: build etcd
	node dist/cli/skein.js local-cluster --data-dir $(DATA_DIR)/cluster

bench: build
	node --expose-gc dist/bench/run.js $(BENCH_ARGS)

# Storage-lifecycle soak (issue 5): all-in-one cutting, compacting, expiring and collecting blocks under
# steady ingest for 10 minutes; fails on any lost or resurrected span, or if the lifecycle never ran
# (bench/README.md). SOAK_ARGS=--quick: 2 minutes, a smoke check; --minutes=N --rate=N.
soak: build
	node dist/bench/soak.js $(SOAK_ARGS)

# Chart + image end to end on kind (needs Docker, kind, kubectl, helm; not runnable on the project VMs).
e2e-kind:
	scripts/e2e-kind.sh

clean:
	rm -rf dist
