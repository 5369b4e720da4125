// Head benchmark: fills one shard head with realistic spans (≈10 attributes, ~10 spans per trace,
// several services, spans of a trace arriving in different batches) through admit + commit, then
// measures memory per span against the encoded size, trace-by-ID latency and search latency.
// Memory is the process heap + external delta after a forced GC (run node with --expose-gc), next
// to the head's own accounting (usedBytes).
//
// Run alone: node --expose-gc dist/ingester/head/head.bench.js [spans]
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import type { KeyValue, SearchRequest, Span, SpanBatch } from '../../common/model/index.js';
import { encodeResource, encodeScope, encodeSpan } from '../../common/otlp/index.js';
import { createShardHead } from './index.js';

export interface HeadBenchResult {
  spans: number;
  traces: number;
  /** Process memory (heapUsed + external) delta per span after GC. */
  bytesPerSpan: number;
  encodedBytesPerSpan: number;
  ratio: number;
  /** The head's own accounting per span. */
  usedBytesPerSpan: number;
  usedRatio: number;
  /** Wall-clock rate of admit + commit on one thread. */
  ingestSpansPerSec: number;
  /** Process CPU per span during admit + commit (includes V8's GC threads). */
  ingestCpuNsPerSpan: number;
  findTraceP50Ms: number;
  findTraceP99Ms: number;
  searchP50Ms: number;
  searchP99Ms: number;
  gcAvailable: boolean;
}

/** xorshift32: a deterministic data set without Math.random. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const SERVICES = ['frontend', 'checkout', 'cart', 'payment', 'shipping', 'currency', 'email', 'recommendation'];
const OPS: Record<string, string[]> = Object.fromEntries(SERVICES.map((s) => [s, ['GET /', 'POST /api/v1/' + s, 'grpc.' + s + '.Get', 'db.query', 'cache.get', 'publish']]));
const METHODS = ['GET', 'POST', 'PUT', 'DELETE'];
const STATUS = [200n, 200n, 200n, 200n, 201n, 204n, 400n, 404n, 500n, 503n];

const kv = (key: string, value: KeyValue['value']): KeyValue => ({ key, value });
const str = (value: string): KeyValue['value'] => ({ kind: 'string', value });

function resourceFor(service: string, pod: number): Uint8Array {
  return encodeResource({
    attributes: [
      kv('service.name', str(service)),
      kv('service.version', str('1.4.2')),
      kv('service.namespace', str('shop')),
      kv('host.name', str(`node-${pod % 5}`)),
      kv('k8s.pod.name', str(`${service}-7d9f8b6c5-${pod.toString(36)}`)),
      kv('k8s.namespace.name', str('shop-prod')),
      kv('telemetry.sdk.language', str('nodejs')),
      kv('telemetry.sdk.name', str('opentelemetry')),
      kv('telemetry.sdk.version', str('1.30.0')),
    ],
    droppedAttributesCount: 0,
  });
}

const SCOPE = encodeScope({ name: '@opentelemetry/instrumentation-http', version: '0.57.0', attributes: [], droppedAttributesCount: 0 });

function makeSpan(next: () => number, trace: Uint8Array, id: Uint8Array, parent: Uint8Array, service: string, start: bigint, traceNo: number): Span {
  const r = next();
  const ops = OPS[service]!;
  const name = ops[r % ops.length]!;
  const durationNs = BigInt(20_000 + (next() % 50_000_000));
  const status = STATUS[next() % STATUS.length]!;
  return {
    traceId: trace,
    spanId: id,
    traceState: '',
    parentSpanId: parent,
    flags: 1,
    name,
    kind: parent.length === 0 ? 2 : 1 + (r % 3),
    startTimeUnixNano: start,
    endTimeUnixNano: start + durationNs,
    attributes: [
      kv('http.method', str(METHODS[r % 4]!)),
      kv('http.route', str(name)),
      kv('http.status_code', { kind: 'int', value: status }),
      kv('http.url', str(`https://shop.example.com/api/v1/${service}/items/${traceNo % 50_000}?page=${r % 10}`)),
      kv('net.peer.name', str(`${SERVICES[r % SERVICES.length]}.shop-prod.svc.cluster.local`)),
      kv('net.peer.port', { kind: 'int', value: 8080n }),
      kv('user.id', str(`user-${next() % 20_000}`)),
      kv('thread.id', { kind: 'int', value: BigInt(next() % 64) }),
      kv('http.response_content_length', { kind: 'int', value: BigInt(next() % 100_000) }),
      kv('sampling.ratio', { kind: 'double', value: 0.25 }),
    ],
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    status: { code: status >= 500n ? 2 : 0, message: '' },
  };
}

function bytesOf(n: number, next: () => number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) {
    const x = next();
    b[i] = x & 0xff;
    b[i + 1] = (x >>> 8) & 0xff;
    if (i + 2 < n) b[i + 2] = (x >>> 16) & 0xff;
    if (i + 3 < n) b[i + 3] = x >>> 24;
  }
  return b;
}

/**
 * Spans as a receiver hands them on: views into one contiguous request body (and warm in the CPU
 * caches, having just been copied), not scattered allocations.
 */
function asRequest(spans: readonly Uint8Array[]): Uint8Array[] {
  const body = new Uint8Array(spans.reduce((n, s) => n + s.length, 0));
  const views: Uint8Array[] = [];
  let at = 0;
  for (const s of spans) {
    body.set(s, at);
    views.push(body.subarray(at, at + s.length));
    at += s.length;
  }
  return views;
}

function gc(): boolean {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g === undefined) return false;
  g();
  g();
  return true;
}

/** GC, then give V8's concurrent ArrayBuffer sweeper time to return freed backing stores. */
async function settle(): Promise<void> {
  gc();
  await new Promise((resolve) => setTimeout(resolve, 100));
  gc();
}

function memory(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/**
 * The benchmark's data: rounds of ROUND_TRACES concurrent traces; in each round every service
 * flushes one batch holding its spans of all of them, so a trace's spans arrive in several
 * batches. `onTrace` sees every trace ID generated.
 */
export function* generateBatches(spans: number, seed: number, onTrace: (id: Uint8Array) => void): Generator<{ batches: SpanBatch[]; spans: number; bytes: number }> {
  const next = rng(seed);
  const resources = new Map<string, Uint8Array[]>(SERVICES.map((s) => [s, [0, 1, 2].map((p) => resourceFor(s, p))]));
  const base = 1_700_000_000_000_000_000n;
  const ROUND_TRACES = 500;
  let made = 0;
  let traceNo = 0;
  while (made < spans) {
    const perService = new Map<string, Uint8Array[]>(SERVICES.map((s) => [s, []]));
    let roundSpans = 0;
    let roundBytes = 0;
    for (let t = 0; t < ROUND_TRACES && made < spans; t++) {
      const trace = bytesOf(16, next);
      onTrace(trace);
      traceNo++;
      const start = base + BigInt(traceNo) * 1_000_000n;
      const count = 6 + (next() % 9); // 6–14, mean 10
      let parent: Uint8Array = new Uint8Array(0);
      for (let i = 0; i < count && made < spans; i++) {
        const service = i === 0 ? 'frontend' : SERVICES[next() % SERVICES.length]!;
        const id = bytesOf(8, next);
        const bytes = encodeSpan(makeSpan(next, trace, id, parent, service, start + BigInt(i) * 1000n, traceNo));
        perService.get(service)!.push(bytes);
        roundBytes += bytes.length;
        roundSpans++;
        made++;
        if (i === 0 || next() % 3 === 0) parent = id;
      }
    }
    const batches: SpanBatch[] = [];
    for (const [service, list] of perService) {
      if (list.length === 0) continue;
      const resource = resources.get(service)![next() % 3]!;
      batches.push({ tenant: 'bench', groups: [{ resource, resourceSchemaUrl: '', scope: SCOPE, scopeSchemaUrl: '', spans: asRequest(list) }] });
    }
    yield { batches, spans: roundSpans, bytes: roundBytes };
  }
}

export async function benchHead(options: { spans: number; seed?: number }): Promise<HeadBenchResult> {
  const next = rng((options.seed ?? 42) ^ 0x5bd1e995);
  const gcAvailable = gc();
  // Trace IDs for the lookups go to a buffer allocated (and touched) before the baseline, so the
  // memory delta is the head's alone. Traces have at least 6 spans.
  const idBuffer = Buffer.alloc(Math.ceil(options.spans / 6 + 1) * 16, 1);
  let traceCount = 0;
  const onTrace = (id: Uint8Array): void => {
    idBuffer.set(id, traceCount++ * 16);
  };
  await settle();
  const before = memory();
  const head = createShardHead({ maxBytes: Number.MAX_SAFE_INTEGER });
  let spans = 0;
  let encoded = 0;
  let ingestMs = 0;
  let ingestCpuUs = 0;
  // Each round (~5,000 spans, ~2 MB, as views into one request-like buffer) is inserted right
  // after it is generated, so its bytes are as warm in the CPU caches as a request's are after the
  // receiver scanned and validated it. Only the head's calls are timed; the generator's garbage is
  // left to the scavenger, as a real receiver's would be.
  for (const round of generateBatches(options.spans, options.seed ?? 42, onTrace)) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (const b of round.batches) {
      const r = head.admit(b);
      if (r.kind !== 'ok') throw new Error('head unexpectedly full');
      head.commit(r.ticket);
    }
    ingestMs += performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    ingestCpuUs += cpu.user + cpu.system;
    spans += round.spans;
    encoded += round.bytes;
  }

  await settle();
  const bytesPerSpan = (memory() - before) / spans;

  const lookups: number[] = [];
  let found = 0;
  for (let i = 0; i < 5000; i++) {
    const at = (next() % traceCount) * 16;
    const id = idBuffer.subarray(at, at + 16);
    const t0 = performance.now();
    const groups = head.findTrace('bench', id);
    lookups.push(performance.now() - t0);
    if (groups !== null) found += groups.length;
  }
  if (found === 0) throw new Error('findTrace found nothing');

  const searches: SearchRequest[] = [
    { tags: [], limit: 20 },
    { tags: [{ key: 'service.name', value: 'payment' }], limit: 20 },
    { tags: [{ key: 'http.status_code', value: '500' }], limit: 20 },
    { tags: [{ key: 'service.name', value: 'cart' }, { key: 'http.method', value: 'POST' }], limit: 20 },
    { tags: [{ key: 'user.id', value: 'user-1234' }], limit: 20 },
    { tags: [{ key: 'status', value: 'error' }], limit: 20, minDurationNs: 10_000_000 },
    { tags: [{ key: 'name', value: 'db.query' }], limit: 20, minSpanDurationNs: 40_000_000 },
  ];
  const searchTimes: number[] = [];
  for (let round = 0; round < 20; round++) {
    for (const request of searches) {
      const t0 = performance.now();
      head.search('bench', request);
      searchTimes.push(performance.now() - t0);
    }
  }

  const encodedBytesPerSpan = encoded / spans;
  return {
    spans,
    traces: head.traceCount(),
    bytesPerSpan,
    encodedBytesPerSpan,
    ratio: bytesPerSpan / encodedBytesPerSpan,
    usedBytesPerSpan: head.usedBytes() / spans,
    usedRatio: head.usedBytes() / spans / encodedBytesPerSpan,
    ingestSpansPerSec: spans / (ingestMs / 1000),
    ingestCpuNsPerSpan: (ingestCpuUs * 1000) / spans,
    findTraceP50Ms: percentile(lookups, 50),
    findTraceP99Ms: percentile(lookups, 99),
    searchP50Ms: percentile(searchTimes, 50),
    searchP99Ms: percentile(searchTimes, 99),
    gcAvailable,
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const spans = Number(process.argv[2] ?? 1_000_000);
  process.stdout.write(JSON.stringify(await benchHead({ spans }), null, 2) + '\n');
}
