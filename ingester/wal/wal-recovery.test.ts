// Replay and repair against real files: torn tails at every offset, single-byte damage in every
// record, and the corruption classes FORMAT.md names.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { readFile, readdir, rm, truncate, writeFile, appendFile } from 'node:fs/promises';
import path from 'node:path';
import type { SpanBatch } from '../../common/model/index.js';
import { Registry } from '../../common/metrics/index.js';
import { openWal, type FsyncPolicy } from './index.js';
import { encodeBatchRecord } from './batch-codec.js';
import { encodeFrame, FRAME_HEADER_BYTES } from './frame.js';
import { segmentFileName } from './segment-files.js';
import { batchKey as key, metricSum as metric, replayKeys as replay, useTempDirs } from './testing/helpers.js';

const tempDir = useTempDirs();
const frameSize = (b: SpanBatch): number => FRAME_HEADER_BYTES + encodeBatchRecord(b).length;

const smallBatch: fc.Arbitrary<SpanBatch> = fc.record({
  tenant: fc.string({ maxLength: 8 }),
  groups: fc.array(
    fc.record({
      resource: fc.uint8Array({ maxLength: 40 }),
      resourceSchemaUrl: fc.constantFrom('', 'https://opentelemetry.io/schemas/1.26.0'),
      scope: fc.uint8Array({ maxLength: 10 }),
      scopeSchemaUrl: fc.constant(''),
      spans: fc.array(fc.uint8Array({ minLength: 1, maxLength: 60 }), { maxLength: 4 }),
    }),
    { minLength: 1, maxLength: 2 },
  ),
});

function batchOf(n: number, size = 30): SpanBatch {
  const span = new Uint8Array(size).fill(n & 0xff);
  return { tenant: `t${n}`, groups: [{ resource: new Uint8Array([n & 0xff]), resourceSchemaUrl: '', scope: new Uint8Array(0), scopeSchemaUrl: '', spans: [span] }] };
}

async function writeWal(dir: string, batches: readonly SpanBatch[], opts: { segmentBytes?: number; fsync?: FsyncPolicy } = {}): Promise<number[]> {
  const { wal } = await openWal({ dir, fsync: opts.fsync ?? 'none', segmentBytes: opts.segmentBytes }, () => undefined);
  // One at a time, so each record is its own commit group and rotation points are predictable.
  for (const b of batches) await wal.append(b);
  await wal.close();
  return wal.segments();
}

/** Which records each segment holds: consecutive runs whose frame sizes add up to the file size. */
async function layout(dir: string, segments: readonly number[], batches: readonly SpanBatch[]): Promise<Array<{ segment: number; first: number; starts: number[] }>> {
  const out = [];
  let next = 0;
  for (const segment of segments) {
    const size = (await readFile(path.join(dir, segmentFileName(segment)))).length;
    const first = next;
    const starts: number[] = [];
    let at = 0;
    while (at < size) {
      starts.push(at);
      at += frameSize(batches[next++]);
    }
    expect(at).toBe(size);
    out.push({ segment, first, starts });
  }
  expect(next).toBe(batches.length);
  return out;
}

describe('WAL replay after a torn write', () => {
  it('a cut at any offset of the last segment replays exactly the complete records; appends continue', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(smallBatch, { minLength: 1, maxLength: 10 }), fc.integer({ min: 150, max: 2000 }), fc.nat(), async (batches, segmentBytes, at) => {
        const dir = await tempDir();
        const segments = await writeWal(dir, batches, { segmentBytes });
        const segs = await layout(dir, segments, batches);
        const last = segs.at(-1)!;
        const lastFile = path.join(dir, segmentFileName(last.segment));
        const size = (await readFile(lastFile)).length;
        const cut = at % (size + 1);
        await truncate(lastFile, cut);

        const complete = last.starts.filter((s, i) => s + frameSize(batches[last.first + i]) <= cut).length;
        const expected = batches.slice(0, last.first + complete).map(key);
        const registry = new Registry();
        const { keys, report } = await replay(dir, registry);
        expect(keys).toEqual(expected);
        expect(report.corruption).toBeUndefined();
        const boundary = complete === last.starts.length ? size : last.starts[complete];
        if (cut === boundary) {
          expect(report.tornTail).toBeUndefined();
        } else {
          expect(report.tornTail).toEqual({ segment: last.segment, offset: boundary, droppedBytes: cut - boundary });
          expect(await metric(registry, 'skein_ingester_wal_dropped_bytes_total', { reason: 'torn' })).toBe(cut - boundary);
        }
        expect(await metric(registry, 'skein_ingester_wal_records_replayed_total')).toBe(expected.length);

        const extra = batchOf(999);
        const { wal } = await openWal({ dir, fsync: 'always', segmentBytes }, () => undefined);
        await wal.append(extra);
        await wal.close();
        const again = await replay(dir);
        expect(again.keys).toEqual([...expected, key(extra)]);
        expect(again.report.tornTail).toBeUndefined();
        expect(again.report.corruption).toBeUndefined();
      }),
      { numRuns: 60 },
    );
  });

  it('every single cut offset of a three-record segment', async () => {
    const batches = [batchOf(1), batchOf(2, 50), batchOf(3, 5)];
    const source = await tempDir();
    await writeWal(source, batches);
    const original = await readFile(path.join(source, segmentFileName(1)));
    const ends = [frameSize(batches[0])];
    ends.push(ends[0] + frameSize(batches[1]), ends[0] + frameSize(batches[1]) + frameSize(batches[2]));
    for (let cut = 0; cut <= original.length; cut++) {
      const dir = await tempDir();
      await writeFile(path.join(dir, segmentFileName(1)), original.subarray(0, cut));
      const { keys } = await replay(dir);
      expect(keys, `cut at ${cut}`).toEqual(batches.slice(0, ends.filter((e) => e <= cut).length).map(key));
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('WAL replay after damage', () => {
  it('a flipped byte in record k stops replay at k, quarantines the rest, and appends continue', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(smallBatch, { minLength: 1, maxLength: 10 }),
        fc.integer({ min: 150, max: 1500 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async (batches, segmentBytes, pickRecord, pickByte, mask) => {
          const dir = await tempDir();
          const segments = await writeWal(dir, batches, { segmentBytes });
          const segs = await layout(dir, segments, batches);
          const k = pickRecord % batches.length;
          const seg = segs.find((s) => k >= s.first && k < s.first + s.starts.length)!;
          const offset = seg.starts[k - seg.first];
          const file = path.join(dir, segmentFileName(seg.segment));
          const bytes = await readFile(file);
          bytes[offset + (pickByte % frameSize(batches[k]))] ^= mask;
          await writeFile(file, bytes);
          const laterSegments = segments.filter((n) => n > seg.segment);
          const laterBytes = await Promise.all(laterSegments.map((n) => readFile(path.join(dir, segmentFileName(n)))));

          const registry = new Registry();
          const { keys, report, segments: after } = await replay(dir, registry);
          expect(keys).toEqual(batches.slice(0, k).map(key));
          const c = report.corruption!;
          expect(c).toMatchObject({ segment: seg.segment, offset, droppedSegments: laterSegments });
          expect(c.droppedBytes).toBe(bytes.length - offset + laterBytes.reduce((n, b) => n + b.length, 0));
          expect(await metric(registry, 'skein_ingester_wal_dropped_bytes_total', { reason: 'corrupt' })).toBe(c.droppedBytes);
          // Nothing destroyed: the damaged tail and the later segments sit in quarantine byte for byte.
          expect(path.dirname(c.quarantinedTo)).toBe(path.join(dir, 'quarantine'));
          expect(Buffer.compare(await readFile(path.join(c.quarantinedTo, segmentFileName(seg.segment))), bytes.subarray(offset))).toBe(0);
          for (const [i, n] of laterSegments.entries()) {
            expect(Buffer.compare(await readFile(path.join(c.quarantinedTo, segmentFileName(n))), laterBytes[i])).toBe(0);
          }
          expect((await readFile(file)).length).toBe(offset);
          expect(after.at(-1)).toBe(offset < segmentBytes ? seg.segment : seg.segment + 1);

          const extra = batchOf(7);
          const { wal } = await openWal({ dir, fsync: 'batch', segmentBytes }, () => undefined);
          await wal.append(extra);
          await wal.close();
          const again = await replay(dir);
          expect(again.keys).toEqual([...batches.slice(0, k).map(key), key(extra)]);
          expect(again.report.corruption).toBeUndefined();
        },
      ),
      { numRuns: 60 },
    );
  });

  // Frames whose checksum is right but whose content is not something this build wrote.
  const versioned = (version: number, type: number, body: number[]) => encodeFrame(new Uint8Array([version, type, ...body]));
  it.each([
    ['an unknown format version', versioned(2, 1, [0, 0]), /unknown format version 2/],
    ['an unknown record type', versioned(1, 42, [0, 0]), /unknown record type 42/],
    ['an undecodable payload', versioned(1, 1, [0, 9]), /undecodable span batch/],
    ['an impossible length', new Uint8Array([1, 0, 0, 0, 1, 2, 3, 4, 5]), /impossible payload length 1/],
  ])('stops at %s with a clear reason', async (_name, bad, reason) => {
    const dir = await tempDir();
    const batches = [batchOf(1), batchOf(2)];
    await writeWal(dir, batches);
    const file = path.join(dir, segmentFileName(1));
    const goodSize = (await readFile(file)).length;
    await appendFile(file, bad);
    await appendFile(file, encodeFrame(encodeBatchRecord(batchOf(3))));
    const { keys, report } = await replay(dir);
    expect(keys).toEqual(batches.map(key));
    expect(report.corruption).toMatchObject({ segment: 1, offset: goodSize, reason: expect.stringMatching(reason) as unknown, droppedSegments: [] });
  });

  it('treats an unfinished frame in a sealed segment as corruption and drops the later segments', async () => {
    const dir = await tempDir();
    const batches = [1, 2, 3, 4].map((n) => batchOf(n, 100));
    const segments = await writeWal(dir, batches, { segmentBytes: 200 });
    expect(segments.length).toBe(4);
    const first = path.join(dir, segmentFileName(1));
    const size = (await readFile(first)).length;
    await truncate(first, size - 3);
    const { keys, report } = await replay(dir);
    expect(keys).toEqual([]);
    expect(report.corruption).toMatchObject({ segment: 1, offset: 0, reason: expect.stringMatching(/sealed/) as unknown, droppedSegments: [2, 3, 4] });
    expect((await readdir(report.corruption!.quarantinedTo)).sort()).toEqual(['00000001.wal', '00000002.wal', '00000003.wal', '00000004.wal', 'quarantine.json']);
  });

  it('replays across a gap in segment numbers and reports the missing ones', async () => {
    const dir = await tempDir();
    const batches = [1, 2, 3].map((n) => batchOf(n, 100));
    await writeWal(dir, batches, { segmentBytes: 200 });
    await rm(path.join(dir, segmentFileName(2)));
    const { keys, report } = await replay(dir);
    expect(keys).toEqual([key(batches[0]), key(batches[2])]);
    expect(report.missingSegments).toEqual([2]);
  });
});
