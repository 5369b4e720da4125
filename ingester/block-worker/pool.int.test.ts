// The pool as shipped: dist/ingester/block-worker (compiled by `make build`, which `make test-int`
// runs first) starts worker.js beside it — no TypeScript bootstrap involved. The unit tests cover
// the same pool run from the sources.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import type * as Block from '../block/index.js';
import { batch, group, span, spanId, traceId } from '../head/testing/index.js';
import type * as BlockWorker from './index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIST = path.join(ROOT, 'dist', 'ingester', 'block-worker', 'index.js');
// buildBlock of the same build: the sources may have moved on since dist/ was compiled.
const DIST_BLOCK = path.join(ROOT, 'dist', 'ingester', 'block', 'index.js');

describe('block worker pool from dist/', () => {
  it('builds the same bytes as buildBlock here, with worker.js from dist/', async () => {
    expect(existsSync(DIST), `${DIST} is missing: run make build`).toBe(true);
    const { createBlockWorkerPool } = (await import(pathToFileURL(DIST).href)) as typeof BlockWorker;
    const { buildBlock } = (await import(pathToFileURL(DIST_BLOCK).href)) as typeof Block;
    const batches = ['api', 'db', 'web'].map((service, s) =>
      batch('bench', group(service, Array.from({ length: 10_000 }, (_, i) => span({ trace: traceId(1 + (i >> 3)), id: spanId(s * 100_000 + i), name: `op-${i % 13}`, attributes: { 'user.id': `u-${i % 97}` } })))),
    );
    const pool = createBlockWorkerPool({ size: 2 });
    try {
      const params = { blockId: 'b-dist', tenant: 'bench', shard: 1, level: 0, batches };
      const [a, b] = await Promise.all([pool.build(params), pool.build({ ...params, blockId: 'b-dist-2' })]);
      const here = buildBlock(params);
      expect(a.meta).toEqual(here.meta);
      here.objects.forEach((o, i) => expect(Buffer.compare(a.objects[i]!.body, o.body)).toBe(0));
      expect(b.meta.blockId).toBe('b-dist-2');
    } finally {
      await pool.close();
    }
  }, 120_000);

  it('merges blocks in a worker from dist/ as mergeBlocks does here; a corrupt input comes back as a BlockCorruptError naming it', async () => {
    const { createBlockWorkerPool } = (await import(pathToFileURL(DIST).href)) as typeof BlockWorker;
    const { buildBlock, mergeBlocks, isBlockCorruptError } = (await import(pathToFileURL(DIST_BLOCK).href)) as typeof Block;
    // Two inputs sharing half their traces (and the spans of those: duplicates).
    const inputs = [0, 1].map((b) => {
      const batches = [batch('bench', group('api', Array.from({ length: 4_000 }, (_, i) => span({ trace: traceId(1 + ((i + b * 2_000) >> 2)), id: spanId(i + b * 2_000), name: `op-${i % 7}` }))))];
      const built = buildBlock({ blockId: `in-${b}`, tenant: 'bench', shard: 1, level: 0, batches });
      const get = (name: string): Uint8Array => built.objects.find((o) => o.key.endsWith(`/${name}`))!.body;
      return { blockId: `in-${b}`, index: get('index'), data: get('data') };
    });
    const copy = (): Block.MergeInput[] => inputs.map((i) => ({ blockId: i.blockId, index: new Uint8Array(i.index), data: new Uint8Array(i.data) }));
    const params = { blockId: 'out', tenant: 'bench', shard: 1, level: 1 };
    const pool = createBlockWorkerPool({ size: 1 });
    try {
      const merged = await pool.merge(params, copy());
      const here = mergeBlocks({ ...params, inputs: copy() });
      expect(merged.meta).toEqual(here.meta);
      expect(merged.meta.spanCount).toBe(6_000);
      expect(merged.duplicateSpans).toBe(2_000);
      here.objects.forEach((o, i) => expect(Buffer.compare(merged.objects[i]!.body, o.body)).toBe(0));

      const damaged = copy();
      damaged[1]!.data[damaged[1]!.data.length - 5]! ^= 0xff; // inside the last page
      const e: unknown = await pool.merge(params, damaged).catch((x: unknown) => x);
      expect(isBlockCorruptError(e)).toBe(true);
      expect(e).toMatchObject({ code: 'CORRUPT_BLOCK', blockId: 'in-1', object: 'data', kind: 'checksum' });
    } finally {
      await pool.close();
    }
  }, 120_000);
});
