// Block GC against a real etcd started by this test and the filesystem object store (DESIGN.md §11),
// through the real transitions: two flushed blocks are compacted into one (plan, claim, commit), and
// the collector deletes the inputs' files only after the grace, leaving the output readable; an
// upload of a previous owner (token before a failover) and a zombie writer's files with no record
// become orphans and are deleted. The wall clock is injected; nothing waits for real time.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEtcdCoordinator, createKeyspace, del, type Coordinator } from '../../common/coord/index.js';
import { createSilentLogger } from '../../common/log/index.js';
import { createRegistry } from '../../common/metrics/index.js';
import { startEtcd, type EtcdServer } from '../../common/proc/index.js';
import { createFilesystemObjectStore, type ObjectStore } from '../../common/storage/index.js';
import type { SpanBatch } from '../../common/model/index.js';
import { blockObjectKey, blockPrefix, buildBlock, openBlock, writeBlock } from '../block/index.js';
import { batch, group, span, spanId, traceId } from '../head/testing/index.js';
import { createCollector, createManifestStore, type ManifestOutcome, type ManifestStore } from './index.js';
import { observeBlock, observeOrphan, seedOwner } from './testing.js';

const ks = createKeyspace('int', 'gc');
const GRACE = 600_000;
const NS = 1_700_000_000_000_000_000n;

function committed(o: ManifestOutcome): number {
  if (o.kind !== 'committed') throw new Error(`expected committed, got ${JSON.stringify(o)}`);
  return o.revision;
}

const spans = (n: number): SpanBatch => batch('acme', group('api', [span({ trace: traceId(n), id: spanId(n), start: NS + BigInt(n) * 1_000_000n, end: NS + BigInt(n + 1) * 1_000_000n })]));

describe('collector on etcd and the filesystem store', () => {
  let server: EtcdServer;
  let coord: Coordinator;
  let dir: string;
  let store: ObjectStore;
  let now = 1_700_000_000_000;
  let manifest: ManifestStore;

  beforeAll(async () => {
    server = await startEtcd(); // throws (fails the suite) when the etcd binary is missing
    coord = createEtcdCoordinator({ endpoints: [server.endpoint], requestTimeoutMs: 5000 });
    dir = await mkdtemp(path.join(tmpdir(), 'skein-gc-'));
    store = await createFilesystemObjectStore({ root: dir });
    manifest = createManifestStore({ coord, keyspace: ks, wallClock: () => now });
  }, 60_000);

  afterAll(async () => {
    await store?.close();
    await coord?.close();
    await server?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  async function publish(blockId: string, token: number, batches: SpanBatch[]): Promise<void> {
    const upload = committed(await manifest.beginUpload({ shard: 0, token, member: 'm1', blockId, tenant: 'acme' }));
    const built = buildBlock({ blockId, tenant: 'acme', shard: 0, level: 0, batches });
    await writeBlock(store, built);
    committed(await manifest.flush({ shard: 0, token, member: 'm1', upload, meta: { ...built.meta } }));
  }

  it('compaction inputs, a stale upload and a zombie are deleted after the grace; the output stays readable', async () => {
    const token = await seedOwner(coord, ks, 0, 'm1');
    await publish('in-1', token, [spans(1)]);
    await publish('in-2', token, [spans(2)]);

    // Compaction through the real transitions.
    const inputs = [(await observeBlock(coord, ks, 0, 'in-1'))!, (await observeBlock(coord, ks, 0, 'in-2'))!];
    committed(await manifest.plan({ jobId: 'job-1', inputs, output: 'out-1', level: 1, windowStartMs: 0, windowEndMs: now }));
    const job = await manifest.readJob('job-1');
    if (!job.ok || job.job === undefined) throw new Error('job not found');
    const lease = await coord.grantLease(30);
    const claim = await manifest.claim({ job: job.job, member: 'm1', lease: lease.id });
    if (claim.kind !== 'committed') throw new Error(claim.kind);
    const output = buildBlock({ blockId: 'out-1', tenant: 'acme', shard: 0, level: 1, batches: [spans(1), spans(2)] });
    await writeBlock(store, output);
    const again = await manifest.readJob('job-1');
    const compacting = await manifest.readBlocks(0, ['in-1', 'in-2']);
    if (!again.ok || again.job === undefined || !compacting.ok) throw new Error('read failed');
    committed(await manifest.commit({ job: again.job, claim: claim.claim, inputs: compacting.blocks, output: { ...output.meta } }));
    await lease.revoke();
    const compactedAt = now;

    // A failover: the owner key is re-created (new token); an upload of the old token is left over.
    committed(await manifest.beginUpload({ shard: 0, token, member: 'm1', blockId: 'stale-1', tenant: 'acme' }));
    await store.put(blockObjectKey('acme', 0, 'stale-1', 'data'), new Uint8Array(10));
    await coord.txn({ compare: [], success: [del(ks.owner(0))] });
    const newToken = await seedOwner(coord, ks, 0, 'm1');
    // A zombie writer's object, no record anywhere.
    await store.put(blockObjectKey('acme', 0, 'zombie-1', 'data'), new Uint8Array(10));

    const collector = createCollector({
      coord,
      keyspace: ks,
      store,
      member: 'm1',
      ownedShards: () => new Map([[0, newToken]]),
      graceMs: GRACE,
      uploadTimeoutMs: 900_000,
      logger: createSilentLogger(),
      registry: createRegistry({ defaultMetrics: false }),
      wallClock: () => now,
      sweepEvery: 1,
    });

    expect(await collector.runPass()).toMatchObject({ uploadsOrphaned: 1, blocksDeleted: 0, failures: {} });
    expect((await store.list(blockPrefix('acme', 0, 'in-1'))).length).toBeGreaterThan(0);
    now = compactedAt + GRACE - 1;
    expect(await collector.runPass()).toMatchObject({ blocksDeleted: 0, orphansDeleted: 0, orphansRecorded: 0, failures: {} });

    now = compactedAt + GRACE;
    expect(await collector.runPass()).toMatchObject({ blocksDeleted: 2, orphansDeleted: 1, orphansRecorded: 0, failures: {} }); // in-1, in-2; stale-1
    now = compactedAt + 900_000; // zombie-1 unreferenced for max(grace, upload timeout)
    expect(await collector.runPass()).toMatchObject({ orphansRecorded: 1, failures: {} });
    expect((await observeOrphan(coord, ks, 0, 'zombie-1'))?.value.reason).toBe('unreferenced');
    expect(await observeBlock(coord, ks, 0, 'in-1')).toBeUndefined();
    expect(await observeBlock(coord, ks, 0, 'in-2')).toBeUndefined();
    now += GRACE;
    expect(await collector.runPass()).toMatchObject({ orphansDeleted: 1, failures: {} }); // zombie-1

    // Only the output is left, and it answers for both traces.
    expect(new Set((await store.list('')).map((o) => o.key.split('/')[2]))).toEqual(new Set(['out-1']));
    expect((await observeBlock(coord, ks, 0, 'out-1'))?.value.state).toBe('live');
    const reader = await openBlock(store, 'acme', 0, 'out-1');
    expect(await reader.findTrace(traceId(1))).not.toBeNull();
    expect(await reader.findTrace(traceId(2))).not.toBeNull();
    expect((await coord.range(ks.orphansPrefix(0))).entries).toEqual([]);
    expect((await coord.range(ks.uploadsPrefix(0))).entries).toEqual([]);
    expect(await readdir(path.join(dir, 'acme', '0'))).toEqual(['out-1']);
  }, 60_000);
});
