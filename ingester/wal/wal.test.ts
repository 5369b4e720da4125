// The append side: group commit under each fsync policy, rotation, segment removal, close, and
// write/sync failures injected through the file-ops seam.
import { describe, it, expect, vi } from 'vitest';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { setImmediate as nextTick } from 'node:timers/promises';
import type { SpanBatch } from '../../common/model/index.js';
import { SkeinError } from '../../common/errors/index.js';
import { Registry } from '../../common/metrics/index.js';
import { openWal, type FsyncPolicy, type WalFileOps, type WalOptions } from './index.js';
import { nodeFileOps } from './file-ops.js';
import { segmentFileName } from './segment-files.js';
import { batchKey as key, metricSum as metric, replayKeys as replay, useTempDirs } from './testing/helpers.js';

const tempDir = useTempDirs();

function batchOf(n: number, spanBytes = 40): SpanBatch {
  const span = new Uint8Array(spanBytes).fill(n & 0xff);
  return { tenant: `tenant-${n}`, groups: [{ resource: new Uint8Array([1, 2, 3]), resourceSchemaUrl: '', scope: new Uint8Array(0), scopeSchemaUrl: '', spans: [span, span] }] };
}

async function rejection(p: Promise<unknown>): Promise<SkeinError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(SkeinError);
    return e as SkeinError;
  }
  throw new Error('expected a rejection');
}

describe('openWal', () => {
  it('creates a missing directory and starts segment 00000001.wal', async () => {
    const dir = path.join(await tempDir(), 'shard-3', 'wal');
    const { wal, report } = await openWal({ dir, fsync: 'always' }, () => undefined);
    expect(report).toEqual({ segments: 0, records: 0, bytes: 0 });
    expect(wal.segments()).toEqual([1]);
    expect(await readdir(dir)).toEqual(['00000001.wal']);
    await wal.close();
  });

  it.each<[string, Partial<WalOptions>]>([
    ['an unknown fsync policy', { fsync: 'sometimes' as FsyncPolicy }],
    ['a zero segment size', { segmentBytes: 0 }],
    ['a negative batch delay', { batchDelayMs: -1 }],
  ])('rejects %s', async (_name, bad) => {
    const dir = await tempDir();
    const err = await rejection(openWal({ dir, fsync: 'always', ...bad }, () => undefined));
    expect(err.code).toBe('INVALID_ARGUMENT');
  });

  it('fails to open when the record handler throws, and leaves the WAL intact', async () => {
    const dir = await tempDir();
    const { wal } = await openWal({ dir, fsync: 'always' }, () => undefined);
    await wal.append(batchOf(1));
    await wal.close();
    await expect(
      openWal({ dir, fsync: 'always' }, () => {
        throw new Error('head refused');
      }),
    ).rejects.toThrow('head refused');
    expect((await replay(dir)).keys).toEqual([key(batchOf(1))]);
  });

  it('reports the replayed records and their framed bytes', async () => {
    const dir = await tempDir();
    const { wal } = await openWal({ dir, fsync: 'always' }, () => undefined);
    await wal.append(batchOf(1));
    await wal.append(batchOf(2));
    await wal.close();
    const { report } = await replay(dir);
    const size = (await stat(path.join(dir, segmentFileName(1)))).size;
    expect(report).toEqual({ segments: 1, records: 2, bytes: size });
  });
});

describe('group commit', () => {
  it.each<[FsyncPolicy]>([['always'], ['batch'], ['none']])('100 concurrent appends under %s all resolve, replay in order, and share syncs', async (policy) => {
    const dir = await tempDir();
    const registry = new Registry();
    const { wal } = await openWal({ dir, fsync: policy, registry, shard: 7 }, () => undefined);
    const batches = Array.from({ length: 100 }, (_, i) => batchOf(i));
    await Promise.all(batches.map((b) => wal.append(b)));
    const fsyncs = await metric(registry, 'skein_ingester_wal_fsyncs_total');
    if (policy === 'none') expect(fsyncs).toBe(0);
    else {
      expect(fsyncs).toBeGreaterThan(0);
      expect(fsyncs).toBeLessThan(100);
    }
    expect(await metric(registry, 'skein_ingester_wal_appends_total')).toBe(100);
    const m = await registry.getSingleMetric('skein_ingester_wal_appends_total')!.get();
    expect(m.values[0].labels).toEqual({ shard: '7' });
    await wal.close();
    expect((await replay(dir)).keys).toEqual(batches.map(key));
  });

  it("under 'always', appends arriving while a sync is in flight share the next sync", async () => {
    // Slow syncs make the grouping window certain; appends trickle in one per event-loop turn.
    const slowSync: WalFileOps = {
      ...nodeFileOps,
      async openSegment(file, mode) {
        const h = await nodeFileOps.openSegment(file, mode);
        return {
          ...h,
          datasync: async () => {
            await new Promise((r) => setTimeout(r, 20));
            await h.datasync();
          },
        };
      },
    };
    const dir = await tempDir();
    const registry = new Registry();
    const { wal } = await openWal({ dir, fsync: 'always', registry, fileOps: slowSync }, () => undefined);
    const batches = Array.from({ length: 100 }, (_, i) => batchOf(i));
    const acks: Array<Promise<void>> = [];
    for (const b of batches) {
      acks.push(wal.append(b));
      await nextTick();
    }
    await Promise.all(acks);
    expect(await metric(registry, 'skein_ingester_wal_fsyncs_total')).toBeLessThan(10);
    await wal.close();
    expect((await replay(dir)).keys).toEqual(batches.map(key));
  });

  it("under 'batch', appends wait for the delay and then share one sync", async () => {
    const dir = await tempDir();
    const registry = new Registry();
    const { wal } = await openWal({ dir, fsync: 'batch', batchDelayMs: 200, registry }, () => undefined);
    // Only the batch timer is faked: file I/O still completes on its own, so "nothing acknowledged
    // yet" below can only hold because the WAL is waiting for the delay.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      let acked = 0;
      const acks: Array<Promise<void>> = [];
      for (let i = 0; i < 20; i++) {
        acks.push(wal.append(batchOf(i)).then(() => void acked++));
        await nextTick();
      }
      await vi.advanceTimersByTimeAsync(199);
      for (let i = 0; i < 5; i++) await nextTick();
      expect(acked).toBe(0);
      expect(await metric(registry, 'skein_ingester_wal_fsyncs_total')).toBe(0);
      await vi.advanceTimersByTimeAsync(1);
      await Promise.all(acks);
      expect(acked).toBe(20);
      expect(await metric(registry, 'skein_ingester_wal_fsyncs_total')).toBe(1);
    } finally {
      vi.useRealTimers();
    }
    await wal.close();
  });

  it('counts appended bytes as the framed bytes on disk', async () => {
    const dir = await tempDir();
    const registry = new Registry();
    const { wal } = await openWal({ dir, fsync: 'none', registry }, () => undefined);
    await Promise.all([1, 2, 3].map((n) => wal.append(batchOf(n))));
    await wal.close();
    expect(await metric(registry, 'skein_ingester_wal_append_bytes_total')).toBe((await stat(path.join(dir, segmentFileName(1)))).size);
  });
});

describe('segments', () => {
  it('rotates before a group would pass segmentBytes and replays across segments', async () => {
    const dir = await tempDir();
    const segmentBytes = 400;
    const { wal } = await openWal({ dir, fsync: 'always', segmentBytes }, () => undefined);
    const batches = Array.from({ length: 12 }, (_, i) => batchOf(i));
    for (const b of batches) await wal.append(b);
    const segments = wal.segments();
    await wal.close();
    expect(segments.length).toBeGreaterThan(3);
    expect((await readdir(dir)).sort()).toEqual(segments.map(segmentFileName));
    for (const n of segments) expect((await stat(path.join(dir, segmentFileName(n)))).size).toBeLessThanOrEqual(segmentBytes);
    const { keys, report } = await replay(dir);
    expect(keys).toEqual(batches.map(key));
    expect(report.segments).toBe(segments.length);
  });

  it('puts a group larger than segmentBytes alone in its own segment', async () => {
    const dir = await tempDir();
    const { wal } = await openWal({ dir, fsync: 'always', segmentBytes: 100 }, () => undefined);
    await wal.append(batchOf(1, 10));
    await wal.append(batchOf(2, 500));
    await wal.append(batchOf(3, 10));
    expect(wal.segments()).toEqual([1, 2, 3]);
    await wal.close();
    expect((await replay(dir)).keys).toEqual([1, 2, 3].map((n) => key(batchOf(n, n === 2 ? 500 : 10))));
  });

  it('reopens onto the tail of the last segment, or a new one when it is full', async () => {
    const dir = await tempDir();
    let opened = await openWal({ dir, fsync: 'always', segmentBytes: 1000 }, () => undefined);
    await opened.wal.append(batchOf(1));
    await opened.wal.close();
    opened = await openWal({ dir, fsync: 'always', segmentBytes: 1000 }, () => undefined);
    expect(opened.wal.segments()).toEqual([1]);
    await opened.wal.close();
    opened = await openWal({ dir, fsync: 'always', segmentBytes: 10 }, () => undefined);
    expect(opened.wal.segments()).toEqual([1, 2]);
    await opened.wal.append(batchOf(2));
    await opened.wal.close();
    expect((await replay(dir)).keys).toEqual([key(batchOf(1)), key(batchOf(2))]);
  });

  it('rotate() seals the segment: earlier appends sit below the returned number', async () => {
    const dir = await tempDir();
    const { wal } = await openWal({ dir, fsync: 'batch', batchDelayMs: 1000 }, () => undefined);
    const early = wal.append(batchOf(1)); // still waiting for its batch when rotate is asked
    const next = await wal.rotate();
    await early;
    expect(next).toBe(2);
    expect(await wal.rotate()).toBe(2); // nothing written since: no empty segment is made
    const late = wal.append(batchOf(2));
    await wal.close(); // flushes the waiting append without its batch delay
    await late;
    expect(wal.segments()).toEqual([1, 2]);

    const positions: Array<[string, number]> = [];
    const reopened = await openWal({ dir, fsync: 'none' }, (b, at) => positions.push([b.tenant, at.segment]));
    await reopened.wal.close();
    expect(positions).toEqual([
      ['tenant-1', 1],
      ['tenant-2', 2],
    ]);
  });

  it('removeSegmentsBefore deletes older segments, never the active one', async () => {
    const dir = await tempDir();
    const { wal } = await openWal({ dir, fsync: 'always' }, () => undefined);
    for (let i = 1; i <= 4; i++) {
      await wal.append(batchOf(i));
      await wal.rotate();
    }
    await wal.append(batchOf(5));
    expect(wal.segments()).toEqual([1, 2, 3, 4, 5]);
    await wal.removeSegmentsBefore(3);
    expect(wal.segments()).toEqual([3, 4, 5]);
    expect((await readdir(dir)).sort()).toEqual(['00000003.wal', '00000004.wal', '00000005.wal']);
    await wal.removeSegmentsBefore(100);
    expect(wal.segments()).toEqual([5]);
    expect(await readdir(dir)).toEqual(['00000005.wal']);
    await wal.append(batchOf(6));
    await wal.close();
    expect((await replay(dir)).keys).toEqual([key(batchOf(5)), key(batchOf(6))]);
    // Numbering carries on from the surviving segment.
    const again = await openWal({ dir, fsync: 'always' }, () => undefined);
    expect(await again.wal.rotate()).toBe(6);
    await again.wal.close();
  });
});

describe('close', () => {
  it('flushes appends still waiting for their batch, then rejects new work', async () => {
    const dir = await tempDir();
    const { wal } = await openWal({ dir, fsync: 'batch', batchDelayMs: 60_000 }, () => undefined);
    const pending = wal.append(batchOf(1));
    await wal.close();
    await pending;
    expect((await rejection(wal.append(batchOf(2)))).code).toBe('UNAVAILABLE');
    expect((await rejection(wal.rotate())).code).toBe('UNAVAILABLE');
    expect((await rejection(wal.removeSegmentsBefore(1))).code).toBe('UNAVAILABLE');
    await wal.close(); // idempotent
    expect((await replay(dir)).keys).toEqual([key(batchOf(1))]);
  });

  it("syncs on close even under 'none'", async () => {
    const dir = await tempDir();
    const registry = new Registry();
    const { wal } = await openWal({ dir, fsync: 'none', registry }, () => undefined);
    await wal.append(batchOf(1));
    expect(await metric(registry, 'skein_ingester_wal_fsyncs_total')).toBe(0);
    await wal.close();
    expect(await metric(registry, 'skein_ingester_wal_fsyncs_total')).toBe(1);
  });
});

type Fault = 'none' | 'write-throws' | 'write-partial-then-throws' | 'sync-throws' | 'truncate-throws';

/** node:fs file ops with switchable faults; a partial write really lands half its bytes on disk. */
function faultyOps(): { ops: WalFileOps; faults: Set<Fault> } {
  const faults = new Set<Fault>();
  const eio = (): Error => Object.assign(new Error('EIO: i/o error (injected)'), { code: 'EIO' });
  const ops: WalFileOps = {
    syncDir: (d) => nodeFileOps.syncDir(d),
    async openSegment(file, mode) {
      const h = await nodeFileOps.openSegment(file, mode);
      return {
        async writev(buffers, position) {
          if (faults.has('write-throws')) throw eio();
          if (faults.has('write-partial-then-throws')) {
            const all = Buffer.concat(buffers);
            await h.writev([all.subarray(0, Math.ceil(all.length / 2))], position);
            throw eio();
          }
          return h.writev(buffers, position);
        },
        async datasync() {
          if (faults.has('sync-throws')) throw eio();
          return h.datasync();
        },
        async truncate(length) {
          if (faults.has('truncate-throws')) throw eio();
          return h.truncate(length);
        },
        close: () => h.close(),
      };
    },
  };
  return { ops, faults };
}

describe('write failures', () => {
  it.each<[string, Fault[]]>([
    ['the write throws', ['write-throws']],
    ['half the bytes land, then the write throws', ['write-partial-then-throws']],
    ['fdatasync throws after a full write', ['sync-throws']],
    ['a partial write cannot even be truncated away yet', ['write-partial-then-throws', 'truncate-throws']],
  ])('%s: the group rejects, later appends succeed, replay holds only acknowledged records', async (_name, injected) => {
    const dir = await tempDir();
    const { ops, faults } = faultyOps();
    const registry = new Registry();
    const { wal } = await openWal({ dir, fsync: 'always', fileOps: ops, registry }, () => undefined);
    await wal.append(batchOf(1));
    for (const f of injected) faults.add(f);
    const failed = [wal.append(batchOf(2)), wal.append(batchOf(3))];
    for (const p of failed) {
      const err = await rejection(p);
      expect(err.code).toBe('WAL_WRITE_FAILED');
      expect(err.retryable).toBe(true);
      expect(err.message).toMatch(/EIO/);
    }
    faults.clear();
    await wal.append(batchOf(4));
    await wal.close();
    expect(await metric(registry, 'skein_ingester_wal_append_failures_total')).toBe(2);
    const { keys, report } = await replay(dir);
    expect(keys).toEqual([key(batchOf(1)), key(batchOf(4))]);
    expect(report.tornTail).toBeUndefined();
    expect(report.corruption).toBeUndefined();
  });

  it('while a dirty tail cannot be truncated, appends keep failing rather than build on it', async () => {
    const dir = await tempDir();
    const { ops, faults } = faultyOps();
    const { wal } = await openWal({ dir, fsync: 'always', fileOps: ops }, () => undefined);
    await wal.append(batchOf(1));
    faults.add('write-partial-then-throws');
    faults.add('truncate-throws');
    expect((await rejection(wal.append(batchOf(2)))).code).toBe('WAL_WRITE_FAILED');
    faults.delete('write-partial-then-throws');
    expect((await rejection(wal.append(batchOf(3)))).code).toBe('WAL_WRITE_FAILED');
    expect((await rejection(wal.rotate())).code).toBe('WAL_WRITE_FAILED');
    faults.clear();
    await wal.append(batchOf(4));
    await wal.close();
    expect((await replay(dir)).keys).toEqual([key(batchOf(1)), key(batchOf(4))]);
  });

  it('a crash with an untruncatable dirty tail is repaired at the next open', async () => {
    const dir = await tempDir();
    const { ops, faults } = faultyOps();
    const { wal } = await openWal({ dir, fsync: 'always', fileOps: ops }, () => undefined);
    await wal.append(batchOf(1));
    faults.add('write-partial-then-throws');
    faults.add('truncate-throws');
    await rejection(wal.append(batchOf(2)));
    // Simulated crash: the process never truncates. Close fails too, since it cannot clean up.
    expect((await rejection(wal.close())).code).toBe('WAL_WRITE_FAILED');
    const { keys, report } = await replay(dir);
    expect(keys).toEqual([key(batchOf(1))]);
    expect(report.tornTail?.segment).toBe(1);
  });

  it('continues after short writes without losing bytes', async () => {
    const dir = await tempDir();
    const shortWrites: WalFileOps = {
      ...nodeFileOps,
      async openSegment(file, mode) {
        const h = await nodeFileOps.openSegment(file, mode);
        return { ...h, writev: (buffers, position) => h.writev([buffers[0].subarray(0, Math.min(7, buffers[0].length))], position) };
      },
    };
    const { wal } = await openWal({ dir, fsync: 'always', fileOps: shortWrites }, () => undefined);
    const batches = [1, 2, 3].map((n) => batchOf(n));
    await Promise.all(batches.map((b) => wal.append(b)));
    await wal.close();
    expect((await replay(dir)).keys).toEqual(batches.map(key));
  });

  it('a failed segment creation leaves the current segment in use', async () => {
    const dir = await tempDir();
    let refuseCreate = false;
    const ops: WalFileOps = {
      ...nodeFileOps,
      openSegment: (file, mode) => (refuseCreate && mode === 'create' ? Promise.reject(new Error('ENOSPC (injected)')) : nodeFileOps.openSegment(file, mode)),
    };
    const { wal } = await openWal({ dir, fsync: 'always', segmentBytes: 150, fileOps: ops }, () => undefined);
    await wal.append(batchOf(1));
    refuseCreate = true;
    expect((await rejection(wal.append(batchOf(2)))).code).toBe('WAL_WRITE_FAILED');
    expect(wal.segments()).toEqual([1]);
    refuseCreate = false;
    await wal.append(batchOf(3));
    expect(wal.segments()).toEqual([1, 2]);
    await wal.close();
    expect((await replay(dir)).keys).toEqual([key(batchOf(1)), key(batchOf(3))]);
  });
});

describe('frame buffer reuse', () => {
  it('records of shrinking, growing and repeated sizes, in overlapping groups, replay byte for byte', async () => {
    const dir = await tempDir();
    const { wal } = await openWal({ dir, fsync: 'always' }, () => undefined);
    const sizes = [70_000, 10, 70_000, 300_000, 5, 131_000, 40, 300_000, 1, 64_000];
    const batches: SpanBatch[] = [];
    // Waves of concurrent appends: buffers freed by one group are taken by the next wave.
    for (let wave = 0; wave < 4; wave++) {
      const appends: Promise<void>[] = [];
      for (const [i, size] of sizes.entries()) {
        const b = batchOf(wave * 16 + i, size);
        batches.push(b);
        appends.push(wal.append(b));
      }
      await Promise.all(appends);
    }
    await wal.close();
    const { keys } = await replay(dir);
    expect(keys).toEqual(batches.map(key));
  });
});
