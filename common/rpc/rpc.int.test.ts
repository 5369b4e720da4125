// The internal service end to end (ADR 0006 "Forwarding"): common/rpc's handlers on common/grpc's
// native HTTP/2 server on 127.0.0.1, called through the real grpc-js client pool. Each test pins a
// property the cluster relies on: the forward outcome union the sender's retry loop branches on,
// the metadata checks at the owner, deadlines and cancellation that settle instead of hanging,
// query answers that cross the wire unchanged, errors that keep their catalogue code, and the
// pool's lifecycle (one channel per address, connections released on close).
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SkeinError, type ErrorCode } from '../errors/index.js';
import { startNativeGrpcServer, type NativeGrpcServer } from '../grpc/index.js';
import { SpanKind, TENANT_HEADER, toHex, type OperationInfo, type QueryBackend, type SearchRequest, type SearchResult, type Span, type SpanGroup, type TraceResult } from '../model/index.js';
import { encodeExportRequest, encodeResource, encodeScope, encodeSpan } from '../otlp/index.js';
import { freePort } from '../proc/index.js';
import { FORWARD_METADATA, NotOwnerError, RPC_PATHS, buildIngesterRpcHandlers, createIngesterClientPool, type ForwardRequest, type IngesterClientPool } from './index.js';

const HOST = '127.0.0.1';
const TENANT = 'team-a';
/** Deadline of calls that are expected to answer: long, so a slow CI machine never trips it. */
const LONG = { deadlineMs: 30_000 };

// ---- spans -------------------------------------------------------------------------------------

const BASE_NS = 1_700_000_000_000_000_000n;
const T1 = Uint8Array.from(Buffer.from('0af7651916cd43dd8448eb211c80319c', 'hex'));
const T_MISSING = Uint8Array.from(Buffer.from('4bf92f3577b34da6a3ce929d0e0e4736', 'hex'));

function span(traceId: Uint8Array, n: number, name: string, kind: number, parent?: number): Span {
  const id = (k: number): Uint8Array => Uint8Array.from(Buffer.from(k.toString(16).padStart(16, '0'), 'hex'));
  return {
    traceId,
    spanId: id(n),
    traceState: '',
    parentSpanId: parent === undefined ? new Uint8Array(0) : id(parent),
    flags: 1,
    name,
    kind,
    startTimeUnixNano: BASE_NS + BigInt(n) * 1_000_000n,
    endTimeUnixNano: BASE_NS + BigInt(n) * 1_000_000n + 5_000_000n,
    attributes: [{ key: 'http.route', value: { kind: 'string', value: '/users' } }],
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    status: { code: 0, message: '' },
  };
}

const resource = (service: string) => ({ attributes: [{ key: 'service.name', value: { kind: 'string' as const, value: service } }], droppedAttributesCount: 0 });
const scope = (name: string) => ({ name, version: '1.0.0', attributes: [], droppedAttributesCount: 0 });

/** Trace T1 as a head stores it: two (resource, scope) groups of encoded spans. */
const T1_GROUPS: SpanGroup[] = [
  {
    resource: encodeResource(resource('frontend')),
    resourceSchemaUrl: 'https://opentelemetry.io/schemas/1.26.0',
    scope: encodeScope(scope('http-lib')),
    scopeSchemaUrl: '',
    spans: [encodeSpan(span(T1, 1, 'GET /users', SpanKind.SERVER)), encodeSpan(span(T1, 2, 'call api', SpanKind.CLIENT, 1))],
  },
  {
    resource: encodeResource(resource('api')),
    resourceSchemaUrl: '',
    scope: encodeScope(scope('db-lib')),
    scopeSchemaUrl: 'https://example.com/scope',
    spans: [encodeSpan(span(T1, 3, 'list users', SpanKind.SERVER, 2))],
  },
];

/** An ExportTraceServiceRequest body as a router forwards it. */
function exportBody(service: string, spans: Span[]): Uint8Array {
  return encodeExportRequest([{ resource: resource(service), schemaUrl: '', scopeSpans: [{ scope: scope('lib'), schemaUrl: '', spans }] }]);
}

/** Groups as hex strings: readable diffs, and Buffer views compare equal to Uint8Arrays. */
function hexGroups(groups: readonly SpanGroup[]) {
  return groups.map((g) => ({ resource: toHex(g.resource), resourceSchemaUrl: g.resourceSchemaUrl, scope: toHex(g.scope), scopeSchemaUrl: g.scopeSchemaUrl, spans: g.spans.map(toHex) }));
}

// ---- a member: native server + rpc handlers over a recording backend ----------------------------

const SEARCH_RESULT: SearchResult = {
  traces: [{ traceId: toHex(T1), rootServiceName: 'frontend', rootTraceName: 'GET /users', startTimeUnixNano: (BASE_NS + 1_000_000n).toString(), durationNanos: 7_000_000, spanCount: 3 }],
  inspectedTraces: 42,
};
const TAG_NAMES = ['http.route', 'name', 'service.name'];
const TAG_VALUES = ['/users', '/users/{id}'];
const SERVICES = ['api', 'frontend'];
const OPERATIONS: OperationInfo[] = [
  { name: 'GET /users', spanKind: SpanKind.SERVER },
  { name: 'call api', spanKind: SpanKind.CLIENT },
];

/** A QueryBackend answering fixed data and recording every call; `failure` makes every call reject. */
class RecordingBackend implements QueryBackend {
  readonly calls: { method: string; tenant: string; arg?: unknown }[] = [];
  failure: Error | undefined;
  /** Awaited before answering (a slow head). */
  stall: (() => Promise<void>) | undefined;
  /** Set: findTrace and search answers carry it (a member that moved spans into blocks). */
  flushedRevision: number | undefined;

  private async answer<T>(method: string, tenant: string, arg: unknown, value: T): Promise<T> {
    this.calls.push(arg === undefined ? { method, tenant } : { method, tenant, arg });
    if (this.stall !== undefined) await this.stall();
    if (this.failure !== undefined) throw this.failure;
    return value;
  }

  findTrace(tenant: string, traceId: Uint8Array): Promise<TraceResult | null> {
    const found = tenant === TENANT && toHex(traceId) === toHex(T1);
    const f = this.flushedRevision;
    return this.answer('findTrace', tenant, toHex(traceId), found ? (f === undefined ? { groups: T1_GROUPS } : { groups: T1_GROUPS, flushedRevision: f }) : f === undefined ? null : { groups: [], flushedRevision: f });
  }
  search(tenant: string, request: SearchRequest): Promise<SearchResult> {
    return this.answer('search', tenant, request, this.flushedRevision === undefined ? SEARCH_RESULT : { ...SEARCH_RESULT, flushedRevision: this.flushedRevision });
  }
  tagNames(tenant: string): Promise<string[]> {
    return this.answer('tagNames', tenant, undefined, TAG_NAMES);
  }
  tagValues(tenant: string, tag: string): Promise<string[]> {
    return this.answer('tagValues', tenant, tag, TAG_VALUES);
  }
  services(tenant: string): Promise<string[]> {
    return this.answer('services', tenant, undefined, SERVICES);
  }
  operations(tenant: string, service: string): Promise<OperationInfo[]> {
    return this.answer('operations', tenant, service, OPERATIONS);
  }
  ready(): boolean {
    return true;
  }
}

interface Member {
  readonly server: NativeGrpcServer;
  readonly address: string;
  /** Every forward the handler received, as received (not copied). */
  readonly forwards: ForwardRequest[];
  /** What the member does with a forward after recording it; resolves = acknowledged. */
  onForward: (request: ForwardRequest) => Promise<void>;
  readonly backend: RecordingBackend;
}

const servers: NativeGrpcServer[] = [];
/** Resolvers of handlers parked forever; released in cleanup so no promise outlives its test. */
const parked: (() => void)[] = [];
const never = (): Promise<void> => new Promise<void>((resolve) => parked.push(resolve));

async function startMember(maxRequestBytes = 16 * 1024 * 1024): Promise<Member> {
  const backend = new RecordingBackend();
  const forwards: ForwardRequest[] = [];
  const member: Pick<Member, 'forwards' | 'backend' | 'onForward'> = {
    forwards,
    backend,
    onForward: () => Promise.resolve(),
  };
  const server = await startNativeGrpcServer({
    host: HOST,
    port: 0,
    maxRequestBytes,
    handlers: buildIngesterRpcHandlers({
      forward: (request) => {
        forwards.push(request);
        return member.onForward(request);
      },
      query: backend,
    }),
  });
  servers.push(server);
  return Object.assign(member, { server, address: `${HOST}:${server.port}` });
}

/** A TCP relay to `port` that counts its open client connections (what the pool holds open). */
async function startCountingRelay(port: number): Promise<{ address: string; open: () => number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const relay = net.createServer((client) => {
    sockets.add(client);
    const upstream = net.connect(port, HOST);
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    client.once('close', () => {
      sockets.delete(client);
      upstream.destroy();
    });
    upstream.once('close', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => relay.listen(0, HOST, resolve));
  return {
    address: `${HOST}:${(relay.address() as net.AddressInfo).port}`,
    open: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        relay.close(() => resolve());
      }),
  };
}

async function eventually(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** The SkeinError a promise rejects with (fails the test if it resolves or rejects with something else). */
async function rejection(p: Promise<unknown>): Promise<SkeinError> {
  const settled = await p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  if (settled.ok) throw new Error(`expected a rejection, got ${JSON.stringify(settled.value)}`);
  expect(settled.error).toBeInstanceOf(SkeinError);
  return settled.error as SkeinError;
}

/** A raw grpc-js call, to send what the real client never would (bad metadata, bad bodies). */
function rawCall(address: string, path: string, body: Uint8Array, metadata: Record<string, string>): Promise<grpc.ServiceError | null> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) md.set(k, v);
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from(body),
      md,
      { deadline: Date.now() + 30_000 },
      (err) => {
        client.close();
        resolve(err);
      },
    );
  });
}

let pool: IngesterClientPool;
let member: Member;

beforeEach(async () => {
  pool = createIngesterClientPool();
  member = await startMember();
});

afterEach(async () => {
  pool.close();
  for (const release of parked.splice(0)) release();
  await Promise.all(servers.splice(0).map((s) => s.close(AbortSignal.timeout(5000))));
});

const forwardRequest = (body: Uint8Array, overrides: Partial<ForwardRequest> = {}): ForwardRequest => ({
  tenant: TENANT,
  shard: 7,
  partitionVersion: 3,
  from: 'm1',
  body,
  ...overrides,
});

// ---- Forward ------------------------------------------------------------------------------------

describe('Forward', () => {
  it('delivers tenant, shard, partition version, sender and the exact body bytes, and answers ok', async () => {
    const body = exportBody('checkout', [span(T1, 1, 'POST /pay', SpanKind.SERVER), span(T1, 2, 'charge', SpanKind.CLIENT, 1)]);
    const outcome = await pool.get(member.address).forward(forwardRequest(body), LONG);
    expect(outcome).toEqual({ kind: 'ok' });
    expect(member.forwards).toHaveLength(1);
    const got = member.forwards[0]!;
    expect({ tenant: got.tenant, shard: got.shard, partitionVersion: got.partitionVersion, from: got.from }).toEqual({ tenant: TENANT, shard: 7, partitionVersion: 3, from: 'm1' });
    expect(toHex(got.body)).toBe(toHex(body));
  });

  it('delivers a multi-megabyte body intact, and bodies kept by the handler are not overwritten by later calls', async () => {
    // The owner appends the body to its WAL and keeps span views into it in the head: the bytes
    // the handler got must stay what was sent after further requests arrive on the same connection.
    const spans = Array.from({ length: 4000 }, (_, i) => span(T1, i + 1, `op-${i}-${'x'.repeat(400)}`, SpanKind.INTERNAL));
    const big = exportBody('bulk', spans);
    expect(big.length).toBeGreaterThan(1024 * 1024); // spans many DATA frames
    const small = exportBody('small', [span(T_MISSING, 1, 'tiny', SpanKind.SERVER)]);
    const client = pool.get(member.address);
    expect(await client.forward(forwardRequest(big, { shard: 0, partitionVersion: 0 }), LONG)).toEqual({ kind: 'ok' });
    expect(await client.forward(forwardRequest(small, { shard: 999_999_999, partitionVersion: 1 }), LONG)).toEqual({ kind: 'ok' });
    expect(await client.forward(forwardRequest(big.slice().reverse()), LONG)).toEqual({ kind: 'ok' });
    expect(member.forwards.map((f) => [f.shard, f.partitionVersion])).toEqual([
      [0, 0],
      [999_999_999, 1],
      [7, 3],
    ]);
    expect(Buffer.from(member.forwards[0]!.body).equals(Buffer.from(big))).toBe(true);
    expect(Buffer.from(member.forwards[1]!.body).equals(Buffer.from(small))).toBe(true);
  });

  it('maps NotOwnerError to not-owner with the message and the skein-owner trailer as ownerHint', async () => {
    member.onForward = () => Promise.reject(new NotOwnerError('moved', 'm2@127.0.0.1:1234'));
    const outcome = await pool.get(member.address).forward(forwardRequest(exportBody('a', [span(T1, 1, 'x', 2)])), LONG);
    expect(outcome.kind).toBe('not-owner');
    if (outcome.kind !== 'not-owner') return;
    expect(outcome.ownerHint).toBe('m2@127.0.0.1:1234');
    expect(outcome.message).toContain('moved');
    expect(outcome.message).toContain(member.address); // says which member refused
    expect(outcome.message).not.toMatch(/^NOT_OWNER:/); // the code prefix is protocol, not message
  });

  it('maps a NotOwnerError without a hint to not-owner without ownerHint', async () => {
    member.onForward = () => Promise.reject(new NotOwnerError('shard 7 is in handoff'));
    const outcome = await pool.get(member.address).forward(forwardRequest(exportBody('a', [span(T1, 1, 'x', 2)])), LONG);
    expect(outcome).toEqual({ kind: 'not-owner', message: `member ${member.address}: shard 7 is in handoff` });
  });

  // The sender's retry loop retries 'unavailable' elsewhere/later and gives up on 'failed'.
  it.each<{ thrown: () => Error; kind: 'unavailable' | 'failed'; code?: ErrorCode; text: string }>([
    { thrown: () => new SkeinError('UNAVAILABLE', 'lease expired — not acknowledging'), kind: 'unavailable', text: 'lease expired — not acknowledging' },
    { thrown: () => new SkeinError('WAL_WRITE_FAILED', 'disk full: 100% used'), kind: 'unavailable', text: 'disk full: 100% used' },
    { thrown: () => new SkeinError('HEAD_FULL', 'head memory budget exhausted'), kind: 'unavailable', text: 'head memory budget exhausted' },
    { thrown: () => new Error('unexpected bug'), kind: 'unavailable', text: 'unexpected bug' },
    { thrown: () => new SkeinError('INVALID_ARGUMENT', 'span has no trace ID'), kind: 'failed', code: 'INVALID_ARGUMENT', text: 'span has no trace ID' },
    { thrown: () => new SkeinError('BAD_PAYLOAD', 'truncated ResourceSpans at byte 12'), kind: 'failed', code: 'BAD_PAYLOAD', text: 'truncated ResourceSpans at byte 12' },
    { thrown: () => new SkeinError('TENANT_REQUIRED', 'tenant unknown'), kind: 'failed', code: 'TENANT_REQUIRED', text: 'tenant unknown' },
  ])('maps a handler error $text to $kind', async ({ thrown, kind, code, text }) => {
    member.onForward = () => Promise.reject(thrown());
    const outcome = await pool.get(member.address).forward(forwardRequest(exportBody('a', [span(T1, 1, 'x', 2)])), LONG);
    expect(outcome.kind).toBe(kind);
    if (outcome.kind === 'unavailable') expect(outcome.message).toContain(text);
    if (outcome.kind === 'failed') {
      expect(outcome.error).toBeInstanceOf(SkeinError);
      expect(outcome.error.code).toBe(code);
      expect(outcome.error.retryable).toBe(false);
      expect(outcome.error.message).toBe(`member ${member.address}: ${text}`);
    }
  });

  it('answers failed/PAYLOAD_TOO_LARGE for a body above the member limit, without calling the handler', async () => {
    const small = await startMember(64 * 1024);
    const body = exportBody('bulk', Array.from({ length: 1000 }, (_, i) => span(T1, i + 1, `op-${'y'.repeat(100)}`, 1)));
    expect(body.length).toBeGreaterThan(64 * 1024);
    const outcome = await pool.get(small.address).forward(forwardRequest(body), LONG);
    expect(outcome.kind).toBe('failed');
    if (outcome.kind === 'failed') expect(outcome.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(small.forwards).toHaveLength(0);
  });
});

describe('Forward metadata checks at the owner', () => {
  const body = exportBody('a', [span(T1, 1, 'x', 2)]);
  const good = { [TENANT_HEADER]: TENANT, [FORWARD_METADATA.shard]: '7', [FORWARD_METADATA.partitionVersion]: '3', [FORWARD_METADATA.from]: 'm1' };
  const without = (key: string): Record<string, string> => Object.fromEntries(Object.entries(good).filter(([k]) => k !== key));

  it.each<{ name: string; metadata: Record<string, string>; message: RegExp }>([
    { name: 'missing skein-shard', metadata: without(FORWARD_METADATA.shard), message: /^INVALID_ARGUMENT: metadata skein-shard must be a non-negative integer/ },
    { name: 'negative skein-shard', metadata: { ...good, [FORWARD_METADATA.shard]: '-1' }, message: /^INVALID_ARGUMENT: metadata skein-shard must be a non-negative integer, got "-1"$/ },
    { name: 'fractional skein-shard', metadata: { ...good, [FORWARD_METADATA.shard]: '1.5' }, message: /^INVALID_ARGUMENT: metadata skein-shard .* got "1.5"$/ },
    {
      name: 'missing partition version',
      metadata: without(FORWARD_METADATA.partitionVersion),
      message: /^INVALID_ARGUMENT: metadata skein-partition-version must be a non-negative integer/,
    },
    { name: 'non-numeric partition version', metadata: { ...good, [FORWARD_METADATA.partitionVersion]: 'v3' }, message: /^INVALID_ARGUMENT: metadata skein-partition-version .* got "v3"$/ },
    { name: 'missing tenant', metadata: without(TENANT_HEADER), message: /^INVALID_ARGUMENT: tenant: tenancy is required/ },
    { name: 'malformed tenant', metadata: { ...good, [TENANT_HEADER]: 'team a/../b' }, message: /^INVALID_ARGUMENT: tenant: invalid X-Scope-OrgID/ },
  ])('refuses $name with INVALID_ARGUMENT before calling the handler', async ({ metadata, message }) => {
    const err = await rawCall(member.address, RPC_PATHS.forward, body, metadata);
    expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err?.details).toMatch(message);
    expect(member.forwards).toHaveLength(0);
  });

  it('accepts a request without skein-from (sender unknown), as the baseline of the table above', async () => {
    expect(await rawCall(member.address, RPC_PATHS.forward, body, without(FORWARD_METADATA.from))).toBeNull();
    expect(member.forwards.map((f) => f.from)).toEqual(['']);
  });

  it('turns a negative shard sent by the real client into failed/INVALID_ARGUMENT', async () => {
    const outcome = await pool.get(member.address).forward(forwardRequest(body, { shard: -1 }), LONG);
    expect(outcome.kind).toBe('failed');
    if (outcome.kind === 'failed') {
      expect(outcome.error.code).toBe('INVALID_ARGUMENT');
      expect(outcome.error.message).toContain('skein-shard');
    }
    expect(member.forwards).toHaveLength(0);
  });
});

// ---- reachability, deadlines, cancellation ------------------------------------------------------

describe('unreachable members, deadlines and cancellation', () => {
  it('answers unavailable for a closed port, well before the deadline', async () => {
    const address = `${HOST}:${await freePort(HOST)}`;
    const client = pool.get(address);
    const started = Date.now();
    const outcome = await client.forward(forwardRequest(exportBody('a', [span(T1, 1, 'x', 2)])), { deadlineMs: 60_000 });
    expect(outcome.kind).toBe('unavailable');
    // Connection refused is known at once: waiting out the deadline would stall the retry loop.
    expect(Date.now() - started).toBeLessThan(30_000);
    const err = await rejection(client.services(TENANT, { deadlineMs: 60_000 }));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain(address);
  });

  it('settles a forward whose handler never answers as unavailable at the deadline, and keeps serving', async () => {
    member.onForward = never;
    const client = pool.get(member.address);
    const outcome = await client.forward(forwardRequest(exportBody('a', [span(T1, 1, 'x', 2)])), { deadlineMs: 300 });
    expect(outcome.kind).toBe('unavailable');
    if (outcome.kind === 'unavailable') expect(outcome.message).toMatch(/deadline/);
    expect(member.forwards).toHaveLength(1); // it reached the handler: the deadline cut it, not the network
    member.onForward = () => Promise.resolve();
    expect(await client.forward(forwardRequest(exportBody('a', [span(T1, 2, 'y', 2)])), LONG)).toEqual({ kind: 'ok' });
  });

  it('rejects a query whose backend never answers with UNAVAILABLE at the deadline', async () => {
    member.backend.stall = never;
    const err = await rejection(pool.get(member.address).search(TENANT, { tags: [], limit: 20 }, { deadlineMs: 300 }));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toMatch(/deadline/);
  });

  it('settles an in-flight forward promptly when its signal aborts (as unavailable: client.ts maps CANCELLED so)', async () => {
    let entered!: () => void;
    const inHandler = new Promise<void>((resolve) => (entered = resolve));
    member.onForward = () => {
      entered();
      return never();
    };
    const controller = new AbortController();
    const started = Date.now();
    const pending = pool.get(member.address).forward(forwardRequest(exportBody('a', [span(T1, 1, 'x', 2)])), { deadlineMs: 60_000, signal: controller.signal });
    await inHandler;
    controller.abort();
    const outcome = await pending;
    expect(outcome.kind).toBe('unavailable');
    if (outcome.kind === 'unavailable') expect(outcome.message).toMatch(/cancel/);
    expect(Date.now() - started).toBeLessThan(30_000); // not the 60 s deadline
  });

  it('cancels an in-flight query when its signal aborts', async () => {
    member.backend.stall = never;
    const controller = new AbortController();
    const pending = pool.get(member.address).tagNames(TENANT, { deadlineMs: 60_000, signal: controller.signal });
    expect(await eventually(() => member.backend.calls.length === 1, 30_000)).toBe(true);
    controller.abort();
    const err = await rejection(pending);
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toMatch(/cancel/);
  });

  it('does not send a call whose signal is already aborted', async () => {
    const client = pool.get(member.address);
    const outcome = await client.forward(forwardRequest(exportBody('a', [span(T1, 1, 'x', 2)])), { deadlineMs: 60_000, signal: AbortSignal.abort() });
    expect(outcome.kind).toBe('unavailable');
    expect((await rejection(client.services(TENANT, { deadlineMs: 60_000, signal: AbortSignal.abort() }))).code).toBe('UNAVAILABLE');
    // Give a stray request time to arrive before asserting none did.
    expect(await client.tagNames(TENANT, LONG)).toEqual(TAG_NAMES);
    expect(member.forwards).toHaveLength(0);
    expect(member.backend.calls.map((c) => c.method)).toEqual(['tagNames']);
  });
});

// ---- queries ------------------------------------------------------------------------------------

describe('query methods', () => {
  it('FindTrace returns the stored span groups byte for byte, and null for a missing trace', async () => {
    const client = pool.get(member.address);
    const found = await client.findTrace(TENANT, T1, LONG);
    expect(found).not.toBeNull();
    expect(hexGroups(found!.groups)).toEqual(hexGroups(T1_GROUPS));
    expect(await client.findTrace(TENANT, T_MISSING, LONG)).toBeNull();
    expect(await client.findTrace('team-b', T1, LONG)).toBeNull(); // the backend got team-b, not team-a
    expect(member.backend.calls).toEqual([
      { method: 'findTrace', tenant: TENANT, arg: toHex(T1) },
      { method: 'findTrace', tenant: TENANT, arg: toHex(T_MISSING) },
      { method: 'findTrace', tenant: 'team-b', arg: toHex(T1) },
    ]);
  });

  it('FindTrace and Search carry the member\'s flushed revision in a trailer, found or not', async () => {
    member.backend.flushedRevision = 9_007_199_254; // beyond 32 bits
    const client = pool.get(member.address);
    const found = await client.findTrace(TENANT, T1, LONG);
    expect(found!.flushedRevision).toBe(9_007_199_254);
    expect(hexGroups(found!.groups)).toEqual(hexGroups(T1_GROUPS));
    expect(await client.findTrace(TENANT, T_MISSING, LONG)).toEqual({ groups: [], flushedRevision: 9_007_199_254 });
    expect(await client.search(TENANT, { tags: [], limit: 5 }, LONG)).toEqual({ ...SEARCH_RESULT, flushedRevision: 9_007_199_254 });
    member.backend.flushedRevision = undefined;
    expect((await client.findTrace(TENANT, T1, LONG))!.flushedRevision).toBeUndefined();
    expect(await client.search(TENANT, { tags: [], limit: 5 }, LONG)).toEqual(SEARCH_RESULT);
  });

  it('Search, TagNames, TagValues, Services and Operations return what the backend returned, with the request intact', async () => {
    const client = pool.get(member.address);
    const request: SearchRequest = { tags: [{ key: 'service.name', value: 'api' }, { key: 'http.route', value: '/users/{id}' }], minDurationNs: 1_000, endNs: 1_700_000_001_000_000_000, limit: 20 };
    expect(await client.search(TENANT, request, LONG)).toEqual(SEARCH_RESULT);
    expect(await client.tagNames(TENANT, LONG)).toEqual(TAG_NAMES);
    expect(await client.tagValues(TENANT, 'http.route', LONG)).toEqual(TAG_VALUES);
    expect(await client.services(TENANT, LONG)).toEqual(SERVICES);
    expect(await client.operations(TENANT, 'frontend', LONG)).toEqual(OPERATIONS);
    expect(member.backend.calls).toEqual([
      { method: 'search', tenant: TENANT, arg: request },
      { method: 'tagNames', tenant: TENANT },
      { method: 'tagValues', tenant: TENANT, arg: 'http.route' },
      { method: 'services', tenant: TENANT },
      { method: 'operations', tenant: TENANT, arg: 'frontend' },
    ]);
  });

  const calls: [string, (c: ReturnType<IngesterClientPool['get']>) => Promise<unknown>][] = [
    ['findTrace', (c) => c.findTrace(TENANT, T1, LONG)],
    ['search', (c) => c.search(TENANT, { tags: [], limit: 5 }, LONG)],
    ['tagNames', (c) => c.tagNames(TENANT, LONG)],
    ['tagValues', (c) => c.tagValues(TENANT, 'k', LONG)],
    ['services', (c) => c.services(TENANT, LONG)],
    ['operations', (c) => c.operations(TENANT, 'svc', LONG)],
  ];

  it.each(calls)('%s surfaces a backend SkeinError with its code and message', async (method, call) => {
    member.backend.failure = new SkeinError('UNAVAILABLE', `${method}: replay in progress`);
    const err = await rejection(call(pool.get(member.address)));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toBe(`member ${member.address}: ${method}: replay in progress`);
  });

  it.each<[ErrorCode, Error]>([
    ['INVALID_ARGUMENT', new SkeinError('INVALID_ARGUMENT', 'limit must be ≥ 1')],
    ['NOT_FOUND', new SkeinError('NOT_FOUND', 'no such tenant')],
    ['HEAD_FULL', new SkeinError('HEAD_FULL', 'over budget')],
    ['INTERNAL', new Error('index corrupted')],
  ])('surfaces %s from the backend as that code', async (code, error) => {
    member.backend.failure = error;
    const err = await rejection(pool.get(member.address).search(TENANT, { tags: [], limit: 5 }, LONG));
    expect(err.code).toBe(code);
    expect(err.message).toContain(error.message);
  });

  it('refuses bad query requests with INVALID_ARGUMENT without asking the backend', async () => {
    const client = pool.get(member.address);
    expect((await rejection(client.findTrace(TENANT, new Uint8Array(16), LONG))).code).toBe('INVALID_ARGUMENT'); // all-zero trace ID
    const badTenant = await rejection(client.services('team a', LONG));
    expect(badTenant.code).toBe('INVALID_ARGUMENT');
    expect(badTenant.message).toMatch(/X-Scope-OrgID/);
    const notJson = await rawCall(member.address, RPC_PATHS.tagNames, Buffer.from('{tenant:'), {});
    expect(notJson?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(notJson?.details).toMatch(/^BAD_PAYLOAD: TagNames: body is not JSON/);
    const noTag = await rawCall(member.address, RPC_PATHS.tagValues, Buffer.from(JSON.stringify({ tenant: TENANT })), {});
    expect(noTag?.details).toBe('INVALID_ARGUMENT: request field tag must be a string');
    expect(member.backend.calls).toEqual([]);
  });
});

// ---- pool lifecycle -----------------------------------------------------------------------------

describe('client pool', () => {
  it('hands out one client per address', () => {
    const a = pool.get(member.address);
    expect(pool.get(member.address)).toBe(a);
    expect(a.address).toBe(member.address);
    const other = pool.get(`${HOST}:1`);
    expect(other).not.toBe(a);
    expect(other.address).toBe(`${HOST}:1`);
  });

  it('retain closes the connections of dropped addresses only; close releases every connection, refuses new clients, and the server then shuts down cleanly', async () => {
    // Two relays to the same member stand for two member addresses; each counts the pool's connections.
    const relayA = await startCountingRelay(member.server.port);
    const relayB = await startCountingRelay(member.server.port);
    try {
      const a = pool.get(relayA.address);
      const b = pool.get(relayB.address);
      expect(await a.services(TENANT, LONG)).toEqual(SERVICES);
      expect(await b.services(TENANT, LONG)).toEqual(SERVICES);
      expect([relayA.open(), relayB.open()]).toEqual([1, 1]);

      pool.retain(new Set([relayA.address]));
      expect(await eventually(() => relayB.open() === 0, 15_000)).toBe(true);
      expect(relayA.open()).toBe(1);
      expect(pool.get(relayA.address)).toBe(a);
      const b2 = pool.get(relayB.address);
      expect(b2).not.toBe(b); // a fresh channel after retain dropped the old one
      expect(await b2.services(TENANT, LONG)).toEqual(SERVICES);

      pool.close();
      expect(await eventually(() => relayA.open() === 0 && relayB.open() === 0, 15_000)).toBe(true);
      expect(() => pool.get(relayA.address)).toThrow(SkeinError);
    } finally {
      await relayA.close();
      await relayB.close();
    }
    const direct = createIngesterClientPool();
    expect(await direct.get(member.address).forward(forwardRequest(exportBody('a', [span(T1, 1, 'x', 2)])), LONG)).toEqual({ kind: 'ok' });
    direct.close();
    const force = AbortSignal.timeout(20_000);
    await member.server.close(force);
    expect(force.aborted).toBe(false); // closed cleanly, not by destroying sessions
  });

  // grpc.Client.close() alone lets started calls run on until a keepalive ping fails (~10 s) or
  // their deadline: the pool cancels them itself.
  it('fails a call in flight promptly when the pool closes', async () => {
    member.onForward = never;
    const pending = pool.get(member.address).forward(forwardRequest(exportBody('a', [span(T1, 1, 'x', 2)])), { deadlineMs: 60_000 });
    expect(await eventually(() => member.forwards.length === 1, 30_000)).toBe(true);
    pool.close();
    const settled = await Promise.race([pending, new Promise<'still pending'>((resolve) => setTimeout(() => resolve('still pending'), 5_000))]);
    expect(settled).not.toBe('still pending');
    expect(settled).toMatchObject({ kind: 'unavailable' });
  });

  // A client kept across retain()/close(): grpc-js would throw a code-less "Channel has been shut down".
  it('a client whose channel was closed fails queries with UNAVAILABLE', async () => {
    const stale = pool.get(member.address);
    expect(await stale.services(TENANT, LONG)).toEqual(SERVICES);
    pool.retain(new Set());
    const err = await rejection(stale.services(TENANT, LONG));
    expect(err.message).not.toMatch(/undefined/);
    expect(err.code).toBe('UNAVAILABLE');
  });
});
