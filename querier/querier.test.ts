import { describe, it, expect, afterEach, vi } from 'vitest';
import { ManualClock, MemoryStore, createKeyspace, encodeValue, HolderValue, MemberValue, OwnerValue, PartitionValue, put, del, type Coordinator, type Op } from '../common/coord/index.js';
import { SkeinError } from '../common/errors/index.js';
import { createSilentLogger } from '../common/log/index.js';
import { createRegistry, type Registry } from '../common/metrics/index.js';
import type { OperationInfo, SearchRequest, SearchResult, Span, SpanGroup, TraceResult, TraceSummary } from '../common/model/index.js';
import { SpanKind, StatusCode, fromHex, toHex } from '../common/model/index.js';
import { decodeSpan, encodeResource, encodeScope, encodeSpan } from '../common/otlp/index.js';
import { createClusterBackend, type ClusterBackend, type MemberCallOptions, type MemberClientSource, type MemberQueryClient } from './querier.js';

const keyspace = createKeyspace('default', 'test');
const BASE = 1_700_000_000_000_000_000n;
const T1 = '0af7651916cd43dd8448eb211c80319c';
const T2 = '4bf92f3577b34da6a3ce929d0e0e4736';
const TIMEOUT_MS = 1000;

function spanBytes(traceHex: string, id: number): Uint8Array {
  const span: Span = {
    traceId: fromHex(traceHex, 16)!,
    spanId: fromHex(id.toString(16).padStart(16, '0'), 8)!,
    parentSpanId: new Uint8Array(0),
    traceState: '',
    flags: 1,
    name: `op-${id}`,
    kind: SpanKind.SERVER,
    startTimeUnixNano: BASE + BigInt(id) * 1000n,
    endTimeUnixNano: BASE + BigInt(id) * 1000n + 500n,
    attributes: [],
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    status: { code: StatusCode.UNSET, message: '' },
  };
  return encodeSpan(span);
}

function group(service: string, spans: Uint8Array[]): SpanGroup {
  return {
    resource: encodeResource({ attributes: [{ key: 'service.name', value: { kind: 'string', value: service } }], droppedAttributesCount: 0 }),
    resourceSchemaUrl: '',
    scope: encodeScope({ name: 'lib', version: '1', attributes: [], droppedAttributesCount: 0 }),
    scopeSchemaUrl: '',
    spans,
  };
}

const summary = (traceId: string, start: bigint, spanCount = 1): TraceSummary => ({
  traceId,
  rootServiceName: 'svc',
  rootTraceName: 'root',
  startTimeUnixNano: start.toString(),
  durationNanos: 10,
  spanCount,
});

type Behaviour = 'ok' | 'throw' | 'hang';

/** One member's data and how it behaves; records what it was asked. */
class FakeMember implements MemberQueryClient {
  behaviour: Behaviour = 'ok';
  readonly traces = new Map<string, SpanGroup[]>();
  summaries: TraceSummary[] = [];
  tags: string[] = [];
  values: string[] = [];
  serviceNames: string[] = [];
  ops: OperationInfo[] = [];
  readonly calls: { method: string; tenant: string; deadlineMs: number; signal: AbortSignal | undefined }[] = [];

  constructor(readonly address: string) {}

  #answer<T>(method: string, tenant: string, options: MemberCallOptions, value: () => T): Promise<T> {
    this.calls.push({ method, tenant, deadlineMs: options.deadlineMs, signal: options.signal });
    if (this.behaviour === 'throw') return Promise.reject(new SkeinError('UNAVAILABLE', `connect ECONNREFUSED ${this.address}`));
    if (this.behaviour === 'hang') return new Promise<T>(() => {});
    return Promise.resolve(value());
  }

  findTrace(tenant: string, traceId: Uint8Array, options: MemberCallOptions): Promise<TraceResult | null> {
    return this.#answer('findTrace', tenant, options, () => {
      const groups = this.traces.get(toHex(traceId));
      return groups === undefined ? null : { groups };
    });
  }
  search(tenant: string, request: SearchRequest, options: MemberCallOptions): Promise<SearchResult> {
    return this.#answer('search', tenant, options, () => ({ traces: this.summaries.slice(0, request.limit), inspectedTraces: this.summaries.length }));
  }
  tagNames(tenant: string, options: MemberCallOptions): Promise<string[]> {
    return this.#answer('tagNames', tenant, options, () => this.tags);
  }
  tagValues(tenant: string, _tag: string, options: MemberCallOptions): Promise<string[]> {
    return this.#answer('tagValues', tenant, options, () => this.values);
  }
  services(tenant: string, options: MemberCallOptions): Promise<string[]> {
    return this.#answer('services', tenant, options, () => this.serviceNames);
  }
  operations(tenant: string, _service: string, options: MemberCallOptions): Promise<OperationInfo[]> {
    return this.#answer('operations', tenant, options, () => this.ops);
  }
}

class FakeClients implements MemberClientSource {
  readonly members = new Map<string, FakeMember>();
  retained: string[] = [];

  member(address: string): FakeMember {
    let m = this.members.get(address);
    if (m === undefined) {
      m = new FakeMember(address);
      this.members.set(address, m);
    }
    return m;
  }
  get(address: string): MemberQueryClient {
    return this.member(address);
  }
  retain(addresses: ReadonlySet<string>): void {
    this.retained = [...addresses].sort();
  }
  /** Addresses asked by method `method`, sorted. */
  asked(method: string): string[] {
    return [...this.members.values()]
      .filter((m) => m.calls.some((c) => c.method === method))
      .map((m) => m.address)
      .sort();
  }
  reset(): void {
    for (const m of this.members.values()) m.calls.length = 0;
  }
}

/** Lets the memory store's asynchronous watch deliveries run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

const backends: ClusterBackend[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const b of backends.splice(0)) await b.stop();
});

interface World {
  store: MemoryStore;
  clock: ManualClock;
  admin: Coordinator;
  clients: FakeClients;
  registry: Registry;
  backend: ClusterBackend;
  addMember(id: string, address: string): Promise<void>;
  removeMember(id: string): Promise<void>;
  setPartition(shardCount: number): Promise<void>;
  setOwner(shard: number, id: string, address: string): Promise<void>;
  removeOwner(shard: number): Promise<void>;
}

async function write(coord: Coordinator, op: Op): Promise<void> {
  const r = await coord.txn({ compare: [], success: [op] });
  if (r.kind !== 'committed') throw new Error(`write failed: ${r.kind}`);
}

async function world(options: { start?: boolean } = {}): Promise<World> {
  const clock = new ManualClock();
  const store = new MemoryStore({ clock });
  const admin = store.connect();
  const clients = new FakeClients();
  const registry = createRegistry({ defaultMetrics: false });
  const backend = createClusterBackend({ coord: store.connect(), keyspace, clients, queryTimeoutMs: TIMEOUT_MS, logger: createSilentLogger(), registry });
  backends.push(backend);
  const w: World = {
    store,
    clock,
    admin,
    clients,
    registry,
    backend,
    async addMember(id, address) {
      const value = encodeValue(MemberValue, { address, ports: {}, version: 'test', ready: true, partitionVersion: 1 });
      await write(admin, put(keyspace.member(id), value));
      await settle();
    },
    async removeMember(id) {
      await write(admin, del(keyspace.member(id)));
      await settle();
    },
    async setPartition(shardCount) {
      await write(admin, put(keyspace.partition, encodeValue(PartitionValue, { version: 1, shardCount })));
      await settle();
    },
    async setOwner(shard, id, address) {
      await write(admin, put(keyspace.owner(shard), encodeValue(OwnerValue, { member: id, address })));
      await settle();
    },
    async removeOwner(shard) {
      await write(admin, del(keyspace.owner(shard)));
      await settle();
    },
  };
  if (options.start ?? true) await backend.start();
  return w;
}

/** Two members a and b, partition of 2 shards, each owning one. */
async function twoMembers(): Promise<World> {
  const w = await world();
  await w.setPartition(2);
  await w.addMember('a', 'a:9095');
  await w.addMember('b', 'b:9095');
  await w.setOwner(0, 'a', 'a:9095');
  await w.setOwner(1, 'b', 'b:9095');
  return w;
}

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

function spanIds(result: TraceResult | null): string[] {
  return (result?.groups ?? []).flatMap((g) => g.spans.map((s) => toHex(decodeSpan(s).spanId))).sort();
}

describe('cluster backend: fan-out and merge', () => {
  it('asks every member and merges a trace split across them, with (trace, span) dedup', async () => {
    const w = await twoMembers();
    w.clients.member('a:9095').traces.set(T1, [group('api', [spanBytes(T1, 1), spanBytes(T1, 2)])]);
    w.clients.member('b:9095').traces.set(T1, [group('api', [spanBytes(T1, 2), spanBytes(T1, 3)]), group('db', [spanBytes(T1, 4)])]);

    const result = await w.backend.findTrace('team-a', fromHex(T1, 16)!);
    expect(spanIds(result)).toEqual(['0000000000000001', '0000000000000002', '0000000000000003', '0000000000000004']);
    expect(result?.groups).toHaveLength(2);
    expect(result).not.toHaveProperty('partial');
    // Every member was asked, for the right tenant, with the query deadline.
    for (const m of w.clients.members.values()) {
      expect(m.calls).toEqual([{ method: 'findTrace', tenant: 'team-a', deadlineMs: TIMEOUT_MS, signal: expect.any(AbortSignal) }]);
    }
  });

  it('a trace no member holds is null (a complete "not found")', async () => {
    const w = await twoMembers();
    expect(await w.backend.findTrace('t', fromHex(T2, 16)!)).toBeNull();
  });

  it('search merges newest first with the limit, summing inspected traces; a trace on two members appears once', async () => {
    const w = await twoMembers();
    w.clients.member('a:9095').summaries = [summary('aa', BASE + 30n), summary('cc', BASE + 10n)];
    w.clients.member('b:9095').summaries = [summary('bb', BASE + 20n), summary('cc', BASE + 5n, 2)];
    const r = await w.backend.search('t', { tags: [], limit: 2 });
    expect(r.traces.map((t) => t.traceId)).toEqual(['aa', 'bb']);
    expect(r.inspectedTraces).toBe(4);
    const all = await w.backend.search('t', { tags: [], limit: 10 });
    expect(all.traces.map((t) => [t.traceId, t.startTimeUnixNano, t.spanCount])).toEqual([
      ['aa', (BASE + 30n).toString(), 1],
      ['bb', (BASE + 20n).toString(), 1],
      ['cc', (BASE + 5n).toString(), 3],
    ]);
    expect(all).not.toHaveProperty('partial');
  });

  it('lists are merged sorted and unique', async () => {
    const w = await twoMembers();
    const a = w.clients.member('a:9095');
    const b = w.clients.member('b:9095');
    a.tags = ['service.name', 'http.method'];
    b.tags = ['db.system', 'service.name'];
    a.values = ['GET'];
    b.values = ['POST', 'GET'];
    a.serviceNames = ['web'];
    b.serviceNames = ['api', 'web'];
    a.ops = [{ name: 'GET /', spanKind: 2 }];
    b.ops = [
      { name: 'GET /', spanKind: 2 },
      { name: 'SELECT', spanKind: 3 },
    ];
    expect(await w.backend.tagNames('t')).toEqual(['db.system', 'http.method', 'service.name']);
    expect(await w.backend.tagValues('t', 'http.method')).toEqual(['GET', 'POST']);
    expect(await w.backend.services('t')).toEqual(['api', 'web']);
    expect(await w.backend.operations('t', 'web')).toEqual([
      { name: 'GET /', spanKind: 2 },
      { name: 'SELECT', spanKind: 3 },
    ]);
  });

  it('counts member requests by outcome', async () => {
    const w = await twoMembers();
    await w.backend.services('t');
    expect(await metric(w.registry, 'skein_querier_fanout_requests_total', { method: 'services', outcome: 'ok' })).toBe(2);
    expect(await metric(w.registry, 'skein_querier_partial_responses_total', { method: 'services' })).toBe(0);
  });
});

describe('cluster backend: partial answers', () => {
  it('a member that holds acknowledged spans on its disk but is not registered makes answers partial, without being asked', async () => {
    const w = await twoMembers();
    const holder = async (id: string, address: string): Promise<void> => {
      await write(w.admin, put(keyspace.holder(id), encodeValue(HolderValue, { address, joinedAt: 1 })));
      await settle();
    };
    await holder('a', 'a:9095');
    await holder('b', 'b:9095');
    w.clients.member('a:9095').traces.set(T1, [group('api', [spanBytes(T1, 1)])]);
    expect(await w.backend.findTrace('t', fromHex(T1, 16)!)).not.toHaveProperty('partial'); // live holders: complete

    await holder('c', 'c:9095'); // crashed: its holder key outlives its lease-bound member key
    const found = await w.backend.findTrace('t', fromHex(T1, 16)!);
    expect(spanIds(found)).toEqual(['0000000000000001']);
    expect(found?.partial?.reasons).toEqual(['ingester c left without handing off; the acknowledged spans on its disk are not visible until it restarts']);
    await expect(w.backend.findTrace('t', fromHex(T2, 16)!)).rejects.toMatchObject({ code: 'UNAVAILABLE' }); // not a false "not found"
    expect((await w.backend.search('t', { tags: [], limit: 5 })).partial?.reasons).toHaveLength(1);
    expect(w.clients.members.has('c:9095')).toBe(false); // never asked: a dead address would stall every query

    await w.addMember('c', 'c:9095'); // back: asked like any member, answers complete again
    expect(await w.backend.findTrace('t', fromHex(T1, 16)!)).not.toHaveProperty('partial');
    await w.removeMember('c');
    await write(w.admin, del(keyspace.holder('c'))); // left gracefully with everything drained
    await settle();
    expect(await w.backend.findTrace('t', fromHex(T1, 16)!)).not.toHaveProperty('partial');
  });

  it('a member that fails makes the answer partial, naming it and why', async () => {
    const w = await twoMembers();
    w.clients.member('a:9095').traces.set(T1, [group('api', [spanBytes(T1, 1)])]);
    w.clients.member('b:9095').behaviour = 'throw';
    const result = await w.backend.findTrace('t', fromHex(T1, 16)!);
    expect(spanIds(result)).toEqual(['0000000000000001']);
    expect(result?.partial?.reasons).toEqual(['ingester b at b:9095: connect ECONNREFUSED b:9095']);

    w.clients.member('a:9095').summaries = [summary('aa', BASE)];
    const search = await w.backend.search('t', { tags: [], limit: 5 });
    expect(search.traces.map((t) => t.traceId)).toEqual(['aa']);
    expect(search.partial?.reasons).toEqual(['ingester b at b:9095: connect ECONNREFUSED b:9095']);

    expect(await metric(w.registry, 'skein_querier_fanout_requests_total', { method: 'findTrace', outcome: 'error' })).toBe(1);
    expect(await metric(w.registry, 'skein_querier_partial_responses_total', { method: 'findTrace' })).toBe(1);
    expect(await metric(w.registry, 'skein_querier_partial_responses_total', { method: 'search' })).toBe(1);
  });

  it('a member that hangs past the deadline is cancelled and the answer is partial', async () => {
    const w = await twoMembers();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    w.clients.member('a:9095').summaries = [summary('aa', BASE)];
    const hanging = w.clients.member('b:9095');
    hanging.behaviour = 'hang';
    const pending = w.backend.search('t', { tags: [], limit: 5 });
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS);
    const r = await pending;
    expect(r.traces.map((t) => t.traceId)).toEqual(['aa']);
    expect(r.partial?.reasons).toEqual([`ingester b at b:9095: no answer within ${TIMEOUT_MS} ms`]);
    expect(hanging.calls[0]!.signal?.aborted).toBe(true);
    expect(await metric(w.registry, 'skein_querier_fanout_requests_total', { method: 'search', outcome: 'timeout' })).toBe(1);
  });

  it('a shard without an owner key makes the answer partial even when every member answered', async () => {
    const w = await twoMembers();
    await w.setPartition(4); // shards 2 and 3 have no owner yet
    w.clients.member('a:9095').summaries = [summary('aa', BASE)];
    const r = await w.backend.search('t', { tags: [], limit: 5 });
    expect(r.partial?.reasons).toHaveLength(1);
    expect(r.partial?.reasons[0]).toMatch(/^2 of 4 shards have no owner \(2, 3\)/);

    await w.setOwner(2, 'a', 'a:9095');
    await w.setOwner(3, 'b', 'b:9095');
    expect(await w.backend.search('t', { tags: [], limit: 5 })).not.toHaveProperty('partial');

    await w.removeOwner(0);
    expect((await w.backend.search('t', { tags: [], limit: 5 })).partial?.reasons[0]).toMatch(/^1 of 4 shards have no owner \(0\)/);
  });

  it('not found on the members that answered, with one missing, is UNAVAILABLE rather than a false "not found"', async () => {
    const w = await twoMembers();
    w.clients.member('b:9095').behaviour = 'throw';
    const error = await w.backend.findTrace('t', fromHex(T2, 16)!).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SkeinError);
    expect((error as SkeinError).code).toBe('UNAVAILABLE');
    expect((error as SkeinError).message).toContain('b:9095');
  });

  it('when no member answers at all the query fails with UNAVAILABLE naming them', async () => {
    const w = await twoMembers();
    w.clients.member('a:9095').behaviour = 'throw';
    w.clients.member('b:9095').behaviour = 'throw';
    for (const call of [() => w.backend.search('t', { tags: [], limit: 5 }), () => w.backend.services('t')]) {
      const error = await call().catch((e: unknown) => e);
      expect((error as SkeinError).code).toBe('UNAVAILABLE');
      expect((error as SkeinError).message).toMatch(/^no ingester answered: .*a:9095.*b:9095/);
    }
  });

  it('many failing members: the first few are named, the rest counted', async () => {
    const w = await world();
    await w.setPartition(1);
    await w.setOwner(0, 'm0', 'm0:1');
    for (let i = 0; i < 9; i++) {
      await w.addMember(`m${i}`, `m${i}:1`);
      if (i > 0) w.clients.member(`m${i}:1`).behaviour = 'throw';
    }
    const r = await w.backend.search('t', { tags: [], limit: 5 });
    expect(r.partial?.reasons).toHaveLength(6);
    expect(r.partial?.reasons).toContain('3 more ingesters did not answer');
  });
});

describe('cluster backend: membership from the coordinator', () => {
  it('members joining and leaving change who is asked, and the client pool is told', async () => {
    const w = await twoMembers();
    expect(w.clients.retained).toEqual(['a:9095', 'b:9095']);

    await w.addMember('c', 'c:9095');
    await w.backend.services('t');
    expect(w.clients.asked('services')).toEqual(['a:9095', 'b:9095', 'c:9095']);
    expect(w.clients.retained).toEqual(['a:9095', 'b:9095', 'c:9095']);

    w.clients.reset();
    await w.removeOwner(0);
    await w.removeMember('a');
    await w.backend.services('t');
    expect(w.clients.asked('services')).toEqual(['b:9095', 'c:9095']);
    expect(w.clients.retained).toEqual(['b:9095', 'c:9095']);
  });

  it('a member whose lease lapses disappears with its owner keys', async () => {
    const w = await twoMembers();
    const lease = await w.admin.grantLease(5);
    await write(w.admin, put(keyspace.member('d'), encodeValue(MemberValue, { address: 'd:9095', ports: {}, version: 'x', ready: true, partitionVersion: 1 }), lease.id));
    await settle();
    expect(w.clients.retained).toContain('d:9095');
    lease.abandon();
    await w.clock.advance(6000);
    await settle();
    expect(w.clients.retained).toEqual(['a:9095', 'b:9095']);
  });

  it('a member still draining (not ready, owning nothing) is still asked', async () => {
    const w = await twoMembers();
    await write(w.admin, put(keyspace.member('old'), encodeValue(MemberValue, { address: 'old:9095', ports: {}, version: 'x', ready: false, partitionVersion: 0 })));
    await settle();
    await w.backend.tagNames('t');
    expect(w.clients.asked('tagNames')).toEqual(['a:9095', 'b:9095', 'old:9095']);
  });

  it('a malformed member value is ignored; assignment keys do not count as owners', async () => {
    const w = await twoMembers();
    await write(w.admin, put(keyspace.member('bad'), '{"address":'));
    await write(w.admin, put(keyspace.assignment(0), '{"member":"a","generation":1,"state":"active"}'));
    await settle();
    await w.backend.services('t');
    expect(w.clients.asked('services')).toEqual(['a:9095', 'b:9095']);
    await w.removeOwner(0);
    expect((await w.backend.search('t', { tags: [], limit: 1 })).partial?.reasons[0]).toMatch(/^1 of 2 shards have no owner \(0\)/);
  });

  it('after a watch breaks, the fresh snapshot replaces what was known (missed deletes included)', async () => {
    const w = await twoMembers();
    w.store.restart(); // watch streams break; the watcher re-lists after a back-off on the store clock
    await settle();
    await w.removeOwner(0);
    await w.removeMember('a');
    await w.backend.services('t');
    // The delete was missed: the last known view still has a.
    expect(w.clients.asked('services')).toEqual(['a:9095', 'b:9095']);
    expect(w.backend.ready()).toBe(true);

    await w.clock.advance(1000);
    await settle();
    w.clients.reset();
    await w.backend.services('t');
    expect(w.clients.asked('services')).toEqual(['b:9095']);
  });
});

describe('cluster backend: readiness and lifecycle', () => {
  it('no members: not ready, and queries say the cluster has no ingesters', async () => {
    const w = await world();
    await w.setPartition(2);
    expect(w.backend.ready()).toBe(false);
    for (const call of [() => w.backend.findTrace('t', fromHex(T1, 16)!), () => w.backend.search('t', { tags: [], limit: 1 })]) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SkeinError);
      expect((error as SkeinError).code).toBe('UNAVAILABLE');
      expect((error as SkeinError).message).toBe('no ingesters registered; is the cluster running?');
    }
    await w.addMember('a', 'a:9095');
    expect(w.backend.ready()).toBe(true);
  });

  it('is not ready before start() even when members exist', async () => {
    const w = await world({ start: false });
    await w.addMember('a', 'a:9095');
    expect(w.backend.ready()).toBe(false);
    await w.backend.start();
    expect(w.backend.ready()).toBe(true);
  });

  it('stop() cancels queries in flight and refuses new ones', async () => {
    const w = await twoMembers();
    w.clients.member('a:9095').behaviour = 'hang';
    const pending = w.backend.search('t', { tags: [], limit: 1 }).catch((e: unknown) => e);
    await w.backend.stop();
    const error = await pending;
    expect((error as SkeinError).code).toBe('UNAVAILABLE');
    expect((error as SkeinError).message).toBe('querier is stopping');
    expect(w.clients.member('a:9095').calls[0]!.signal?.aborted).toBe(true);
    expect(w.backend.ready()).toBe(false);
    await expect(w.backend.services('t')).rejects.toThrow('querier is stopping');
    // The watches are closed: later key changes no longer reach the pool.
    await w.addMember('z', 'z:9095');
    expect(w.clients.retained).not.toContain('z:9095');
  });

  it('stop() ends a start() still waiting for its first snapshots', async () => {
    const w = await world({ start: false });
    w.store.setReachable(false);
    const starting = w.backend.start();
    await settle();
    await w.backend.stop();
    await expect(starting).resolves.toBeUndefined();
  });
});
