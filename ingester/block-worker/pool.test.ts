// The pool on real worker threads (started from the TypeScript sources through the bootstrap in
// pool.ts): blocks byte-identical to buildBlock on this thread, errors keep their codes, a dying
// worker fails only its task and is replaced, aborts and close behave.
import { afterEach, describe, expect, it } from 'vitest';
import { isSkeinError } from '../../common/errors/index.js';
import type { SpanBatch } from '../../common/model/index.js';
import { buildBlock, type BuildBlockParams, type BuiltBlock } from '../block/index.js';
import { batch, group, span, spanId, traceId } from '../head/testing/index.js';
import { createBlockWorkerPool, packBatches, type BlockWorkerPool } from './index.js';

const BASE = 1_700_000_000_000_000_000n;

/** `traces` traces of `perTrace` spans over three services, plus the first `dups` spans again with other bytes (dedup keeps the first). */
function dataset(traces: number, perTrace: number, dups = 0): SpanBatch[] {
  const services = ['api', 'db', 'web'];
  const out: SpanBatch[] = [];
  for (let s = 0; s < services.length; s++) {
    const spans = [];
    for (let t = 0; t < traces; t++) {
      for (let i = s; i < perTrace; i += services.length) {
        spans.push(span({ trace: traceId(t + 1), id: spanId(t * 100 + i), name: `op-${i % 7}`, start: BASE + BigInt(t * 1000 + i) * 1000n, attributes: { 'http.status_code': BigInt(200 + (i % 3) * 100), 'user.id': `u-${t % 50}` } }));
      }
    }
    out.push(batch('acme', group(services[s], spans, { 'k8s.pod.name': `${services[s]}-0` })));
  }
  if (dups > 0) {
    const again = [];
    for (let t = 0; t < dups; t++) again.push(span({ trace: traceId(t + 1), id: spanId(t * 100), name: 'duplicate-with-other-bytes' }));
    out.push(batch('acme', group('api', again)));
  }
  return out;
}

function expectSameBlock(a: BuiltBlock, b: BuiltBlock): void {
  expect(b.meta).toEqual(a.meta);
  expect(b.skippedSpans).toBe(a.skippedSpans);
  expect(b.duplicateSpans).toBe(a.duplicateSpans);
  expect(b.objects.map((o) => o.key)).toEqual(a.objects.map((o) => o.key));
  a.objects.forEach((o, i) => expect(Buffer.from(b.objects[i]!.body).equals(Buffer.from(o.body))).toBe(true));
}

const params = (batches: SpanBatch[], blockId = 'b-1'): BuildBlockParams => ({ blockId, tenant: 'acme', shard: 2, level: 0, batches });

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}

let pools: BlockWorkerPool[] = [];
afterEach(async () => {
  await Promise.all(pools.map((p) => p.close()));
  pools = [];
});
function pool(...args: Parameters<typeof createBlockWorkerPool>): BlockWorkerPool {
  const p = createBlockWorkerPool(...args);
  pools.push(p);
  return p;
}

describe('block worker pool', () => {
  it.each([
    ['one trace, one span', 1, 1, 0],
    ['200 traces of 10 spans over 3 groups', 200, 10, 0],
    ['with duplicates of other bytes', 50, 6, 20],
  ])('builds byte-identical blocks to buildBlock on this thread: %s', async (_name, traces, perTrace, dups) => {
    const p = pool({ size: 1 });
    const input = dataset(traces, perTrace, dups);
    const here = buildBlock(params(input));
    expectSameBlock(here, await p.build(params(input)));
    expectSameBlock(here, await p.buildPacked({ blockId: 'b-1', tenant: 'acme', shard: 2, level: 0 }, packBatches('acme', input)));
    // The inline pool (size 0) is the same interface on this thread.
    expectSameBlock(here, await pool({ size: 0 }).buildPacked({ blockId: 'b-1', tenant: 'acme', shard: 2, level: 0 }, packBatches('acme', input)));
  });

  it('keeps the event loop turning while a large block builds', async () => {
    const p = pool({ size: 1 });
    const input = dataset(20_000, 10);
    await p.build(params(dataset(1, 1))); // the worker is up
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const t0 = performance.now();
    await p.build(params(input));
    const ms = performance.now() - t0;
    clearInterval(timer);
    // On this thread the same build would hold the loop for all of `ms`; here it ticks throughout.
    expect(ticks).toBeGreaterThanOrEqual(Math.min(10, Math.floor(ms / 50)));
    expect(ticks).toBeGreaterThan(2);
  }, 60_000);

  it('runs tasks on all workers, queues the rest, and answers each with its own block', async () => {
    const p = pool({ size: 2 });
    const inputs = [1, 2, 3, 4, 5].map((n) => dataset(n * 10, 4));
    const built = await Promise.all(inputs.map((b, i) => p.build(params(b, `b-${i}`))));
    built.forEach((b, i) => expectSameBlock(buildBlock(params(inputs[i]!, `b-${i}`)), b));
    expect(p.stats()).toMatchObject({ size: 2, busy: 0, queued: 0, crashes: 0 });
  });

  it('passes buildBlock errors back with their code', async () => {
    const p = pool({ size: 1 });
    const noSpans = p.build(params([batch('acme')]));
    await expect(noSpans).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('no spans') });
    const badId = p.build({ ...params(dataset(1, 1)), blockId: 'no/slash' });
    await expect(badId).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    // Refused on this thread before anything is sent: a batch of another tenant.
    await expect(p.build(params([...dataset(1, 1), batch('other')]))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('one tenant') });
    // The worker is still fine.
    expectSameBlock(buildBlock(params(dataset(3, 3))), await p.build(params(dataset(3, 3))));
  });

  it('a worker that dies fails its task with a clear error and is replaced for the next one', async () => {
    // A heap limit far below what the big block needs: V8 ends the worker (ERR_WORKER_OUT_OF_MEMORY).
    const p = pool({ size: 1, maxHeapMb: 24 });
    const big = p.build(params(dataset(20_000, 12)));
    const queued = p.build(params(dataset(2, 2), 'b-small'));
    const error: unknown = await big.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSkeinError(error) && error.code).toBe('INTERNAL');
    expect((error as Error).message).toMatch(/block worker 0 died while building block b-1 \(tenant acme, shard 2\): .*memory/i);
    // The queued task runs on the replacement.
    expectSameBlock(buildBlock(params(dataset(2, 2), 'b-small')), await queued);
    expect(p.stats().crashes).toBe(1);
  }, 60_000);

  it('abort removes a queued task and terminates a running one; the pool goes on', async () => {
    const p = pool({ size: 1 });
    const running = new AbortController();
    const queued = new AbortController();
    const a = p.build(params(dataset(8000, 10)), { signal: running.signal });
    const b = p.build(params(dataset(2, 2)), { signal: queued.signal });
    await until(() => p.stats().busy === 1 && p.stats().queued === 1);
    queued.abort(new Error('not needed'));
    await expect(b).rejects.toThrow('not needed');
    running.abort(new Error('stop'));
    await expect(a).rejects.toThrow('stop');
    expect(p.stats()).toMatchObject({ busy: 0, queued: 0, crashes: 0 });
    expectSameBlock(buildBlock(params(dataset(3, 3))), await p.build(params(dataset(3, 3))));
  }, 60_000);

  it('close lets the running task finish, refuses queued and new ones, and ends the workers', async () => {
    const p = pool({ size: 1 });
    const first = p.build(params(dataset(500, 10)));
    const second = p.build(params(dataset(2, 2)));
    // Packing happens before submission; let both reach the pool.
    await until(() => p.stats().busy === 1 && p.stats().queued === 1);
    const closing = p.close();
    await expect(second).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expectSameBlock(buildBlock(params(dataset(500, 10))), await first);
    await closing;
    await expect(p.build(params(dataset(1, 1)))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await p.close(); // idempotent
  }, 60_000);
});
