// operator/manifests/testing — fixtures and the golden-file helper for the manifest tests.
// Test-only (kept out of the build with every testing/ folder).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { validateTracingClusterSpec, type TracingClusterSpecInput } from '../../api/index.js';
import type { BuildParams } from '../index.js';

export const CLUSTER_UID = '3f2a9c1e-7b4d-4e8a-9c61-0d5e2f7a8b90';

/** Build params for a spec as a person writes it, parsed (defaulted) as the controller would. */
export function paramsFor(spec: TracingClusterSpecInput, overrides: Partial<Omit<BuildParams, 'cluster'>> & { name?: string; namespace?: string } = {}): BuildParams {
  const parsed = validateTracingClusterSpec(spec);
  if (!parsed.ok) throw new Error(`invalid test spec: ${parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  const { name = 'traces', namespace = 'observability', ...rest } = overrides;
  return {
    cluster: { name, namespace, uid: CLUSTER_UID, spec: parsed.value },
    image: 'ghcr.io/example/skein:0.1.0',
    etcdImage: 'quay.io/coreos/etcd:v3.6.16',
    version: '0.1.0',
    ...rest,
  };
}

/**
 * Compares `value` as pretty JSON with the committed file `testdata/<name>.json`; with
 * UPDATE_GOLDEN=1 it rewrites the file instead, so a deliberate change is one command and a review
 * of the diff.
 */
export function expectGolden(name: string, value: unknown): void {
  const file = path.join(import.meta.dirname, '..', 'testdata', `${name}.json`);
  const actual = JSON.stringify(value, null, 2) + '\n';
  if (process.env['UPDATE_GOLDEN'] === '1') {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  if (!existsSync(file)) throw new Error(`golden file ${file} is missing: run the test with UPDATE_GOLDEN=1 and commit it`);
  expect(actual, `${name}.json differs from what buildAll builds: if the change is intended, rerun with UPDATE_GOLDEN=1 and review the diff`).toBe(readFileSync(file, 'utf8'));
}
