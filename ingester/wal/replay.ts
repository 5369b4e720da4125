// Replay and repair at open (FORMAT.md §Replay and repair). Reads every segment in order, hands
// each record to the caller, truncates a torn tail of the last segment, and on corruption stops,
// moves everything from the damaged frame on into quarantine/ and reports it.
import { mkdir, mkdtemp, open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { SpanBatch } from '../../common/model/index.js';
import { readFrames, FRAME_HEADER_BYTES } from './frame.js';
import { tryDecodeBatchRecord } from './batch-codec.js';
import { listSegments, segmentFileName, segmentPath } from './segment-files.js';
import type { WalFileOps } from './file-ops.js';
import type { WalMetrics } from './wal-metrics.js';

/** Where a replayed record sits; useful to whoever later decides which segments may go. */
export interface RecordPosition {
  readonly segment: number;
  /** Offset of the record's frame header within the segment file. */
  readonly offset: number;
}

export type RecordHandler = (batch: SpanBatch, position: RecordPosition) => void;

export interface ReplayReport {
  /** Segment files read. */
  segments: number;
  /** Records handed to the record handler. */
  records: number;
  /** Framed bytes of those records. */
  bytes: number;
  /** A crash mid-write: the unfinished frame at the end of the last segment was truncated away. */
  tornTail?: { segment: number; offset: number; droppedBytes: number };
  /** Replay stopped at a damaged frame; it and everything after it was quarantined, then removed. */
  corruption?: {
    segment: number;
    offset: number;
    reason: string;
    /** The tail of `segment` from `offset` plus every later segment. */
    droppedBytes: number;
    droppedSegments: number[];
    /** Folder holding the dropped bytes (`<segment file name>` = the tail) and every dropped segment. */
    quarantinedTo: string;
  };
  /**
   * Segment numbers missing between the first and last segment found. Segments are only ever removed
   * from the front, so a gap means something outside the WAL removed files; later ones still replay.
   */
  missingSegments?: number[];
}

export interface ReplayOutcome {
  readonly report: ReplayReport;
  /** Segments left after repair, ascending, with the size of the good data in each. */
  readonly segments: ReadonlyArray<{ readonly segment: number; readonly size: number }>;
}

export const QUARANTINE_DIR = 'quarantine';

export async function replayWal(dir: string, onRecord: RecordHandler, metrics: WalMetrics, ops: WalFileOps): Promise<ReplayOutcome> {
  const found = await listSegments(dir);
  const report: ReplayReport = { segments: 0, records: 0, bytes: 0 };
  const missing = missingBetween(found);
  if (missing.length > 0) report.missingSegments = missing;
  const kept: Array<{ segment: number; size: number }> = [];

  for (let i = 0; i < found.length; i++) {
    const segment = found[i];
    const isLast = i === found.length - 1;
    const buf = await readFile(segmentPath(dir, segment));
    report.segments++;
    const scan = readFrames(buf, 0);

    let damage: { offset: number; reason: string } | undefined;
    let delivered = 0;
    for (const frame of scan.frames) {
      const decoded = tryDecodeBatchRecord(frame.payload);
      if (!decoded.ok) {
        damage = { offset: frame.offset, reason: decoded.reason };
        break;
      }
      onRecord(decoded.batch, { segment, offset: frame.offset });
      delivered++;
      report.records++;
      report.bytes += FRAME_HEADER_BYTES + frame.payload.length;
    }
    metrics.recordsReplayed(delivered);

    if (damage === undefined && scan.end.kind === 'corrupt') damage = { offset: scan.end.offset, reason: scan.end.reason };
    if (damage === undefined && scan.end.kind === 'torn') {
      if (isLast) {
        const droppedBytes = buf.length - scan.end.offset;
        await truncateFile(segmentPath(dir, segment), scan.end.offset);
        report.tornTail = { segment, offset: scan.end.offset, droppedBytes };
        metrics.droppedBytes('torn', droppedBytes);
        kept.push({ segment, size: scan.end.offset });
        break;
      }
      // A sealed segment was synced whole before the next one was created, so an unfinished frame
      // inside one is damage, not a crash artefact.
      damage = { offset: scan.end.offset, reason: 'incomplete frame at the end of a sealed (not the last) segment' };
    }
    if (damage !== undefined) {
      report.corruption = await quarantine(dir, buf, segment, damage, found.slice(i + 1), ops);
      metrics.droppedBytes('corrupt', report.corruption.droppedBytes);
      kept.push({ segment, size: damage.offset });
      break;
    }
    kept.push({ segment, size: buf.length });
  }
  return { report, segments: kept };
}

function missingBetween(sorted: readonly number[]): number[] {
  const missing: number[] = [];
  for (let i = 1; i < sorted.length; i++) {
    // Bounded: a huge jump is reported by its ends rather than listed number by number.
    const gap = sorted[i] - sorted[i - 1] - 1;
    if (gap <= 0) continue;
    if (gap <= 1000) for (let n = sorted[i - 1] + 1; n < sorted[i]; n++) missing.push(n);
    else missing.push(sorted[i - 1] + 1, sorted[i] - 1);
  }
  return missing;
}

/**
 * Copies the damaged tail and moves every later segment into a fresh folder under quarantine/,
 * makes that durable, and only then truncates the damaged segment — so a crash halfway through
 * repeats the repair instead of losing bytes.
 */
async function quarantine(
  dir: string,
  buf: Uint8Array,
  segment: number,
  damage: { offset: number; reason: string },
  later: readonly number[],
  ops: WalFileOps,
): Promise<NonNullable<ReplayReport['corruption']>> {
  const root = path.join(dir, QUARANTINE_DIR);
  await mkdir(root, { recursive: true });
  const stamp = new Date().toISOString().replace(/[-:.]/g, '');
  const target = await mkdtemp(path.join(root, `${stamp}-${segmentFileName(segment)}-at-${damage.offset}-`));

  const tail = buf.subarray(damage.offset);
  await writeDurably(path.join(target, segmentFileName(segment)), tail);
  let droppedBytes = tail.length;
  for (const n of later) {
    const from = segmentPath(dir, n);
    droppedBytes += (await stat(from)).size;
    await rename(from, path.join(target, segmentFileName(n)));
  }
  const info = { segment, offset: damage.offset, reason: damage.reason, droppedBytes, droppedSegments: later };
  await writeDurably(path.join(target, 'quarantine.json'), new TextEncoder().encode(JSON.stringify(info, null, 2) + '\n'));
  await ops.syncDir(target);
  await ops.syncDir(root);
  await ops.syncDir(dir);
  await truncateFile(segmentPath(dir, segment), damage.offset);
  return { ...info, droppedSegments: [...later], quarantinedTo: target };
}

async function writeDurably(file: string, bytes: Uint8Array): Promise<void> {
  await writeFile(file, bytes, { flush: true });
}

async function truncateFile(file: string, length: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    await handle.truncate(length);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}
