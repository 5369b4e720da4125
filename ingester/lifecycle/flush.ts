// Flush: a cut's traces become blocks (DESIGN.md §6.5, §7). Per tenant of the cut: tail sampling
// decides which traces are kept, the kept spans are built into one level-0 block, and the block is
// published in the order MANIFEST.md prescribes — upload intent (fenced by the owner's token), then
// the objects, then the fenced flush txn that makes it `live`. Only when every tenant's block is
// committed may the shard set delete the WAL segments the cut covered.
//
// A tenant whose block committed is reported as done even when a later tenant fails, so the retry
// of the cut does not publish it twice. A fenced step (the shard has a newer owner) stops the whole
// flush: nothing from here will ever be committed for that shard, its WAL goes to the new owner.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../common/log/index.js';
import { counter, histogram, type Registry } from '../../common/metrics/index.js';
import type { SpanBatch, SpanGroup } from '../../common/model/index.js';
import { createTailSampler, TAIL_DECISIONS, type TailDecision, type TailSamplingPolicy } from '../../common/sampling/index.js';
import type { ObjectStore } from '../../common/storage/index.js';
import { buildBlock, writeBlock, type BuildBlockParams, type BuiltBlock } from '../block/index.js';
import type { ManifestOutcome, ManifestStore } from './manifest-store.js';

/** What a flush needs of a cut (ShardSet's FrozenCut satisfies it). */
export interface FlushInput {
  readonly shard: number;
  readonly head: { findTrace(tenant: string, traceId: Uint8Array): SpanGroup[] | null };
  readonly tenants: readonly { readonly tenant: string; readonly traces: readonly FlushTrace[] }[];
}

export interface FlushTrace {
  readonly traceId: Uint8Array;
  readonly spanCount: number;
  readonly startNs: number;
  readonly endNs: number;
  readonly hasError: boolean;
}

export type FlushOutcome =
  | { readonly kind: 'committed'; readonly revision: number; readonly blocks: number; readonly spans: number; readonly bytes: number }
  | { readonly kind: 'fenced'; readonly message: string }
  | { readonly kind: 'failed'; readonly error: Error; readonly committedTenants: readonly string[] };

export interface Flusher {
  /** Flushes `input` for `shard` under the owner's fencing `token`. Never rejects. */
  flush(input: FlushInput, token: number): Promise<FlushOutcome>;
}

export interface FlusherOptions {
  readonly store: ObjectStore;
  readonly manifest: ManifestStore;
  readonly member: string;
  /** The tail-sampling policy in force (undefined = keep everything). Read once per flush. */
  readonly tailPolicy: () => TailSamplingPolicy | undefined;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Builds a block; default buildBlock on this thread. A worker pool plugs in here. */
  readonly build?: (params: BuildBlockParams) => Promise<BuiltBlock>;
  /** Default: time-ordered unique ids (`<ms base36>-<random hex>`). */
  readonly newBlockId?: () => string;
}

/** Time-ordered (lexicographically, for the next 80 years) and unique without coordination. */
export function newBlockId(nowMs = Date.now()): string {
  return `${nowMs.toString(36).padStart(9, '0')}-${randomBytes(8).toString('hex')}`;
}

/** How often an unknown outcome of a flush txn is re-sent (re-sending is safe, MANIFEST.md). */
const UNKNOWN_RESENDS = 3;

export function createFlusher(options: FlusherOptions): Flusher {
  const log = options.logger.child({ component: 'flush' });
  const build = options.build ?? ((p: BuildBlockParams) => Promise.resolve(buildBlock(p)));
  const makeId = options.newBlockId ?? (() => newBlockId());
  const blocks = counter(options.registry, 'skein_ingester_blocks_flushed_total', 'Blocks cut from heads and committed to the manifest.');
  const blockBytes = counter(options.registry, 'skein_ingester_block_flushed_bytes_total', 'Bytes of object data written for flushed blocks.');
  const flushFailures = counter(options.registry, 'skein_ingester_flush_failures_total', 'Flushes that did not commit, by reason (fenced, failed).', ['reason']);
  const flushSeconds = histogram(options.registry, 'skein_ingester_flush_duration_seconds', 'Time to build, write and commit the blocks of one cut.', [], [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]);
  const tailTraces = counter(options.registry, 'skein_ingester_tail_sampling_traces_total', 'Traces decided by tail sampling at block cut, by decision (error, slow, sampled kept; dropped).', ['decision']);
  const tailSpans = counter(options.registry, 'skein_ingester_tail_sampling_spans_total', 'Spans of the traces decided by tail sampling at block cut, by decision.', ['decision']);
  for (const d of TAIL_DECISIONS) {
    tailTraces.inc({ decision: d }, 0);
    tailSpans.inc({ decision: d }, 0);
  }

  /** Runs a manifest step; re-sends on `unknown` a few times. */
  async function step(run: () => Promise<ManifestOutcome>): Promise<ManifestOutcome> {
    let outcome = await run();
    for (let i = 0; i < UNKNOWN_RESENDS && outcome.kind === 'unknown'; i++) outcome = await run();
    return outcome;
  }

  const describe = (o: ManifestOutcome): string =>
    o.kind === 'committed' ? 'committed' : o.kind === 'invalid' ? `invalid: ${o.reason}` : o.kind === 'corrupt' ? `corrupt key ${o.key}: ${o.error}` : o.message;

  return {
    async flush(input, token) {
      const started = performance.now();
      const policy = options.tailPolicy();
      const sampler = policy === undefined ? undefined : createTailSampler(policy);
      const done: string[] = [];
      let revision = 0;
      let spans = 0;
      let bytes = 0;
      let written = 0;
      try {
        for (const { tenant, traces } of input.tenants) {
          const decided = new Map<TailDecision, { traces: number; spans: number }>();
          const batches: SpanBatch[] = [];
          for (const t of traces) {
            const decision: TailDecision = sampler === undefined || sampler.keepsAll ? 'sampled' : sampler.decide({ traceId: t.traceId, hasError: t.hasError, durationNs: t.endNs - t.startNs });
            const d = decided.get(decision) ?? { traces: 0, spans: 0 };
            d.traces++;
            d.spans += t.spanCount;
            decided.set(decision, d);
            if (decision === 'dropped') continue;
            const groups = input.head.findTrace(tenant, t.traceId);
            if (groups !== null) batches.push({ tenant, groups });
          }
          if (batches.length === 0) {
            done.push(tenant);
            for (const [decision, d] of decided) {
              tailTraces.inc({ decision }, d.traces);
              tailSpans.inc({ decision }, d.spans);
            }
            continue;
          }
          const blockId = makeId();
          const begun = await step(() => options.manifest.beginUpload({ shard: input.shard, token, member: options.member, blockId, tenant }));
          if (begun.kind === 'fenced') return fenced(begun.message);
          if (begun.kind !== 'committed') return failed(new Error(`upload intent for block ${blockId} (shard ${input.shard}, tenant ${tenant}): ${describe(begun)}`));
          const built = await build({ blockId, tenant, shard: input.shard, level: 0, batches });
          await writeBlock(options.store, built);
          const committed = await step(() => options.manifest.flush({ shard: input.shard, token, member: options.member, upload: begun.revision, meta: { ...built.meta } }));
          if (committed.kind === 'fenced') return fenced(committed.message);
          if (committed.kind !== 'committed') return failed(new Error(`flush of block ${blockId} (shard ${input.shard}, tenant ${tenant}): ${describe(committed)}`));
          // Counted once the block is visible: a retried cut decides again and must not count twice.
          for (const [decision, d] of decided) {
            tailTraces.inc({ decision }, d.traces);
            tailSpans.inc({ decision }, d.spans);
          }
          revision = Math.max(revision, committed.revision);
          spans += built.meta.spanCount;
          bytes += built.meta.bytes;
          written++;
          blocks.inc();
          blockBytes.inc(built.meta.bytes);
          done.push(tenant);
          log.info(
            { shard: input.shard, tenant, blockId, spans: built.meta.spanCount, traces: built.meta.traceCount, bytes: built.meta.bytes, duplicates: built.duplicateSpans, revision: committed.revision },
            'block flushed',
          );
        }
      } catch (e) {
        return failed(e instanceof Error ? e : new Error(String(e)));
      } finally {
        flushSeconds.observe((performance.now() - started) / 1000);
      }
      return { kind: 'committed', revision, blocks: written, spans, bytes };

      function fenced(message: string): FlushOutcome {
        flushFailures.inc({ reason: 'fenced' });
        log.warn({ shard: input.shard, token, message }, 'flush fenced: this member no longer owns the shard; its WAL goes to the new owner');
        return { kind: 'fenced', message };
      }
      function failed(error: Error): FlushOutcome {
        flushFailures.inc({ reason: 'failed' });
        log.warn({ shard: input.shard, err: error.message, committedTenants: done }, 'flush failed; the frozen head stays queryable and the cut is retried');
        return { kind: 'failed', error, committedTenants: [...done] };
      }
    },
  };
}
