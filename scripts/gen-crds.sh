#!/usr/bin/env bash
# Writes the CRDs generated from operator/api (the built dist/, so run `make build` first — `make gen`
# does) into each directory given: `scripts/gen-crds.sh crds charts/skein/crds`. Generated files are
# committed and never edited by hand; `make gen-check` regenerates into a temp dir and diffs.
set -euo pipefail
[[ $# -gt 0 ]] || { echo "usage: $0 <dir>..." >&2; exit 2; }
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"  # the pinned Node 24, never the system one
[[ -f dist/operator/api/index.js ]] || { echo "dist/operator/api/index.js is missing: run make build" >&2; exit 1; }
exec node --input-type=module -e '
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderCrdFiles } from "./dist/operator/api/index.js";
for (const dir of process.argv.slice(1)) {
  mkdirSync(dir, { recursive: true });
  for (const file of renderCrdFiles()) writeFileSync(join(dir, file.name), file.content);
}
' -- "$@"
