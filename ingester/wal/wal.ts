// The per-shard write-ahead log: replay at open, then appends with group commit under an fsync
// policy, segment rotation, and removal of segments whose contents live elsewhere (FORMAT.md).
import { mkdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { SpanBatch } from '../../common/model/index.js';
import type { Registry } from '../../common/metrics/index.js';
import { SkeinError } from '../../common/errors/index.js';
import { encodeBatchFrame } from './batch-codec.js';
import { nodeFileOps, type WalFileHandle, type WalFileOps } from './file-ops.js';
import { replayWal, type RecordHandler, type ReplayReport } from './replay.js';
import { segmentPath } from './segment-files.js';
import { createWalMetrics, type WalMetrics } from './wal-metrics.js';

/**
 * When an append is acknowledged:
 * - `always`: after fdatasync; appends queued while a write+sync is in flight share the next one.
 * - `batch`: appends gather for up to `batchDelayMs`, then one write + one fdatasync acknowledges all.
 * - `none`: after write() returns — the record is in the page cache only and is LOST on power
 *   failure or kernel crash (a process crash alone loses nothing).
 */
export type FsyncPolicy = 'always' | 'batch' | 'none';

export interface WalOptions {
  dir: string;
  fsync: FsyncPolicy;
  /** Longest an append waits to gather a group under 'batch'. */
  batchDelayMs?: number;
  /** Rotate to a new segment before a commit group would take the current one past this size. */
  segmentBytes?: number;
  registry?: Registry;
  /** Metric label. */
  shard?: number;
  /** Seam for tests that inject write/sync failures; defaults to node:fs. */
  fileOps?: WalFileOps;
}

export const WAL_DEFAULTS = {
  batchDelayMs: 5,
  segmentBytes: 64 * 1024 * 1024,
} as const;

export interface Wal {
  /**
   * Resolves once the record is durable under the fsync policy. Rejects with SkeinError
   * WAL_WRITE_FAILED (retryable) when the write or sync of its group failed, UNAVAILABLE after close,
   * PAYLOAD_TOO_LARGE for a record over the frame limit.
   */
  append(batch: SpanBatch): Promise<void>;
  /**
   * Seals the current segment and starts a new one; resolves with the new segment's number. Every
   * append acknowledged before the call lies in a lower-numbered segment. If the current segment is
   * still empty it is kept and its number returned (the same guarantee, no empty file left behind).
   */
  rotate(): Promise<number>;
  /** Deletes segments numbered below `segment`, never the one being written. */
  removeSegmentsBefore(segment: number): Promise<void>;
  /** Flushes queued appends, syncs (whatever the policy) and closes. Idempotent. */
  close(): Promise<void>;
  /** Segment numbers on disk, ascending; the last is the one being written. */
  segments(): number[];
  readonly dir: string;
}

/**
 * Opens (creating if missing) the WAL in `options.dir`: replays every record in order through
 * `onRecord`, repairs (FORMAT.md §Replay and repair), then opens for appending. If `onRecord`
 * throws, opening stops and rejects with that error; nothing has been repaired or written yet for
 * the segment being read.
 */
export async function openWal(options: WalOptions, onRecord: RecordHandler): Promise<{ wal: Wal; report: ReplayReport }> {
  const batchDelayMs = options.batchDelayMs ?? WAL_DEFAULTS.batchDelayMs;
  const segmentBytes = options.segmentBytes ?? WAL_DEFAULTS.segmentBytes;
  if (!['always', 'batch', 'none'].includes(options.fsync)) {
    throw new SkeinError('INVALID_ARGUMENT', `WAL fsync policy must be always, batch or none, got ${String(options.fsync)}`);
  }
  if (!Number.isSafeInteger(segmentBytes) || segmentBytes <= 0) {
    throw new SkeinError('INVALID_ARGUMENT', `WAL segmentBytes must be a positive integer, got ${segmentBytes}`);
  }
  if (!Number.isFinite(batchDelayMs) || batchDelayMs < 0) {
    throw new SkeinError('INVALID_ARGUMENT', `WAL batchDelayMs must be >= 0, got ${batchDelayMs}`);
  }
  const ops = options.fileOps ?? nodeFileOps;
  const metrics = createWalMetrics(options.registry, options.shard);
  const dir = path.resolve(options.dir);

  const created = await mkdir(dir, { recursive: true });
  if (created !== undefined) await ops.syncDir(path.dirname(created));

  const { report, segments } = await replayWal(dir, onRecord, metrics, ops);

  const last = segments.at(-1);
  let active: ActiveSegment;
  const numbers = segments.map((s) => s.segment);
  if (last !== undefined && last.size < segmentBytes) {
    active = { segment: last.segment, size: last.size, handle: await ops.openSegment(segmentPath(dir, last.segment), 'existing') };
  } else {
    const segment = (last?.segment ?? 0) + 1;
    active = { segment, size: 0, handle: await ops.openSegment(segmentPath(dir, segment), 'create') };
    await ops.syncDir(dir);
    numbers.push(segment);
  }
  const wal = new SegmentedWal({ dir, policy: options.fsync, batchDelayMs, segmentBytes, ops, metrics, active, segments: numbers });
  return { wal, report };
}

interface ActiveSegment {
  segment: number;
  /** Bytes of acknowledged-or-failed-and-truncated data: the offset the next group is written at. */
  size: number;
  handle: WalFileHandle;
}

interface PendingAppend {
  readonly frame: Uint8Array;
  /** The pooled buffer `frame` is a view of; goes back to the pool once the frame is written. */
  readonly backing: Buffer | undefined;
  readonly resolve: () => void;
  readonly reject: (e: SkeinError) => void;
}

/** Work that must run between commit groups, in order, after the appends queued before it. */
type ControlTask = () => Promise<void>;

class SegmentedWal implements Wal {
  readonly dir: string;
  private readonly policy: FsyncPolicy;
  private readonly batchDelayMs: number;
  private readonly segmentBytes: number;
  private readonly ops: WalFileOps;
  private readonly metrics: WalMetrics;
  private active: ActiveSegment;
  private readonly segmentNumbers: number[];

  private pending: PendingAppend[] = [];
  private readonly framePool = new FramePool();
  private readonly control: ControlTask[] = [];
  /** True while the pump loop owns the file; everything that touches it runs inside the loop. */
  private pumping = false;
  private batchTimer: NodeJS.Timeout | undefined;
  private batchDue = false;
  /** The bytes past `active.size` may hold part of a failed write; cut them before writing again. */
  private tailDirty = false;
  private closing = false;
  private closed: Promise<void> | undefined;

  constructor(init: {
    dir: string;
    policy: FsyncPolicy;
    batchDelayMs: number;
    segmentBytes: number;
    ops: WalFileOps;
    metrics: WalMetrics;
    active: ActiveSegment;
    segments: number[];
  }) {
    this.dir = init.dir;
    this.policy = init.policy;
    this.batchDelayMs = init.batchDelayMs;
    this.segmentBytes = init.segmentBytes;
    this.ops = init.ops;
    this.metrics = init.metrics;
    this.active = init.active;
    this.segmentNumbers = init.segments;
  }

  segments(): number[] {
    return [...this.segmentNumbers];
  }

  append(batch: SpanBatch): Promise<void> {
    if (this.closing) return Promise.reject(this.closedError());
    let frame: Uint8Array;
    let backing: Buffer | undefined;
    try {
      frame = encodeBatchFrame(batch, (size) => (backing = this.framePool.take(size)));
    } catch (e) {
      if (backing !== undefined) this.framePool.give(backing);
      return Promise.reject(e instanceof SkeinError ? e : new SkeinError('INTERNAL', 'WAL record encoding failed', { cause: e }));
    }
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ frame, backing, resolve, reject });
      if (this.policy === 'batch' && this.batchTimer === undefined && !this.batchDue) {
        this.batchTimer = setTimeout(this.onBatchTimer, this.batchDelayMs);
      }
      this.kick();
    });
  }

  rotate(): Promise<number> {
    if (this.closing) return Promise.reject(this.closedError());
    return new Promise<number>((resolve, reject) => {
      this.control.push(async () => {
        try {
          await this.ensureCleanTail();
          resolve(this.active.size === 0 ? this.active.segment : await this.rotateSegment());
        } catch (e) {
          reject(this.writeFailed('rotate', e));
        }
      });
      this.kick();
    });
  }

  async removeSegmentsBefore(segment: number): Promise<void> {
    if (this.closing) throw this.closedError();
    // Only sealed segments qualify, and the pump only ever adds numbers above them, so this need
    // not wait for the pump.
    const victims = this.segmentNumbers.filter((n) => n < segment && n !== this.active.segment);
    if (victims.length === 0) return;
    for (const n of victims) {
      try {
        await unlink(segmentPath(this.dir, n));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new SkeinError('INTERNAL', `WAL: removing segment ${n} failed`, { cause: e });
      }
      const at = this.segmentNumbers.indexOf(n);
      if (at >= 0) this.segmentNumbers.splice(at, 1);
    }
    await this.ops.syncDir(this.dir);
  }

  close(): Promise<void> {
    if (this.closed) return this.closed;
    this.closing = true;
    this.closed = new Promise<void>((resolve, reject) => {
      this.control.push(async () => {
        if (this.batchTimer !== undefined) clearTimeout(this.batchTimer);
        this.batchTimer = undefined;
        let failure: unknown;
        try {
          await this.ensureCleanTail();
          await this.sync();
        } catch (e) {
          failure = e;
        }
        try {
          await this.active.handle.close();
        } catch (e) {
          failure ??= e;
        }
        if (failure === undefined) resolve();
        else reject(this.writeFailed('close', failure));
      });
      this.kick();
    });
    return this.closed;
  }

  private readonly onBatchTimer = (): void => {
    this.batchTimer = undefined;
    this.batchDue = true;
    this.kick();
  };

  private closedError(): SkeinError {
    return new SkeinError('UNAVAILABLE', `WAL ${this.dir} is closed`);
  }

  private writeFailed(what: string, cause: unknown): SkeinError {
    const detail = cause instanceof Error ? cause.message : String(cause);
    return new SkeinError('WAL_WRITE_FAILED', `WAL ${this.dir} segment ${this.active.segment}: ${what} failed: ${detail}`, { cause });
  }

  private groupReady(): boolean {
    if (this.pending.length === 0) return false;
    return this.policy !== 'batch' || this.batchDue || this.control.length > 0;
  }

  private kick(): void {
    if (this.pumping || (!this.groupReady() && this.control.length === 0)) return;
    this.pumping = true;
    // A microtask, not now: appends issued in the same tick join the first group too.
    queueMicrotask(() => void this.pump());
  }

  /** The single writer: commit groups and control tasks run here one at a time, in order. */
  private async pump(): Promise<void> {
    try {
      for (;;) {
        if (this.groupReady()) {
          const group = this.pending;
          this.pending = [];
          this.batchDue = false;
          if (this.batchTimer !== undefined) clearTimeout(this.batchTimer);
          this.batchTimer = undefined;
          await this.commit(group);
          continue;
        }
        const task = this.control.shift();
        if (task === undefined) break;
        await task();
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Writes and (per policy) syncs one group, then settles every append in it. Never throws. */
  private async commit(group: PendingAppend[]): Promise<void> {
    const frames = group.map((p) => p.frame);
    let bytes = 0;
    for (const f of frames) bytes += f.length;
    try {
      await this.ensureCleanTail();
      // A group never straddles segments, so a failed group is undone by one truncate.
      if (this.active.size > 0 && this.active.size + bytes > this.segmentBytes) await this.rotateSegment();
      const start = this.active.size;
      try {
        await writeAll(this.active.handle, frames, start, bytes);
        if (this.policy !== 'none') await this.sync();
      } catch (e) {
        this.tailDirty = true;
        throw e;
      }
      this.active.size = start + bytes;
    } catch (e) {
      this.recycle(group);
      if (this.tailDirty) await this.ensureCleanTail().catch(() => undefined);
      this.metrics.appendFailed(group.length);
      const err = this.writeFailed('append', e);
      for (const p of group) p.reject(err);
      return;
    }
    this.recycle(group);
    this.metrics.appended(group.length, bytes);
    for (const p of group) p.resolve();
  }

  /** The group's write has returned (or failed): nothing reads its frames any more. */
  private recycle(group: PendingAppend[]): void {
    for (const p of group) if (p.backing !== undefined) this.framePool.give(p.backing);
  }

  /**
   * Cuts off whatever a failed write may have left past the last good offset, so the next frame
   * never follows garbage. A sync failure is treated the same way: after a failed fdatasync the
   * kernel may have dropped those pages, so their records cannot be trusted and were rejected.
   */
  private async ensureCleanTail(): Promise<void> {
    if (!this.tailDirty) return;
    await this.active.handle.truncate(this.active.size);
    this.tailDirty = false;
  }

  private async sync(): Promise<void> {
    const t0 = performance.now();
    await this.active.handle.datasync();
    this.metrics.fsynced((performance.now() - t0) / 1000);
  }

  /** Seals the active segment (synced unless the policy is 'none') and starts the next one. */
  private async rotateSegment(): Promise<number> {
    if (this.policy !== 'none') await this.sync();
    const segment = this.active.segment + 1;
    const file = segmentPath(this.dir, segment);
    const handle = await this.ops.openSegment(file, 'create');
    try {
      if (this.policy !== 'none') await this.ops.syncDir(this.dir);
    } catch (e) {
      await handle.close().catch(() => undefined);
      await unlink(file).catch(() => undefined);
      throw e;
    }
    const old = this.active;
    this.active = { segment, size: 0, handle };
    this.segmentNumbers.push(segment);
    // Its data is already synced (or the policy accepted losing it); a close error changes nothing.
    await old.handle.close().catch(() => undefined);
    return segment;
  }
}

const POOL_MAX_BUFFERS = 8;
const POOL_MAX_BUFFER_BYTES = 8 * 1024 * 1024;
const POOL_MIN_BUFFER_BYTES = 64 * 1024;

/**
 * Reuses frame buffers between appends. Allocating a fresh buffer per record (hundreds of KiB for a
 * typical export request) churns external memory, which V8 answers with extra garbage collections,
 * and malloc may hand back fresh pages that fault on first touch. Sizes are rounded up to powers of
 * two so buffers fit later records of similar size; the pool keeps a few, none very large.
 */
class FramePool {
  private readonly free: Buffer[] = [];

  take(size: number): Buffer {
    const free = this.free;
    for (let i = free.length - 1; i >= 0; i--) {
      const b = free[i]!;
      if (b.length >= size) {
        free[i] = free[free.length - 1]!;
        free.pop();
        return b;
      }
    }
    let capacity = POOL_MIN_BUFFER_BYTES;
    while (capacity < size) capacity *= 2;
    // Its own allocation (not a slice of Node's shared pool), so handing it back is safe.
    return Buffer.allocUnsafeSlow(capacity);
  }

  give(b: Buffer): void {
    if (b.length > POOL_MAX_BUFFER_BYTES) return;
    const free = this.free;
    if (free.length < POOL_MAX_BUFFERS) {
      free.push(b);
      return;
    }
    // Full: keep the larger buffers, which fit more records.
    let smallest = 0;
    for (let i = 1; i < free.length; i++) if (free[i]!.length < free[smallest]!.length) smallest = i;
    if (free[smallest]!.length < b.length) free[smallest] = b;
  }
}

/** Writes all of `buffers` at `position`, continuing after short writes. */
async function writeAll(handle: WalFileHandle, buffers: Uint8Array[], position: number, total: number): Promise<void> {
  let written = 0;
  let rest = buffers;
  for (;;) {
    const { bytesWritten } = await handle.writev(rest, position + written);
    if (bytesWritten <= 0) throw new Error(`write made no progress at offset ${position + written}`);
    written += bytesWritten;
    if (written >= total) return;
    rest = remainingAfter(buffers, written);
  }
}

function remainingAfter(buffers: Uint8Array[], skip: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const b of buffers) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}
