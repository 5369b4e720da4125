// Micro-benchmark of the ingest hot path (wired into `make bench` by bench/run.ts). Builds one
// realistic request — 1000 spans in 10 resources, ~10 attributes per span, typical HTTP/DB names —
// and measures spans/s on one core for: the lazy path (scan + readSpanFields + forEachAttribute),
// the lazy path plus validateSpan, and the full decode into model objects.
import type { KeyValue, ResourceSpans, Span } from '../model/index.js';
import { decodeExportRequest } from './decode.js';
import { encodeExportRequest } from './encode.js';
import { AnyValueType, createSpanFields, forEachAttribute, readServiceName, readSpanFields, scanExportRequest } from './scan.js';
import { DEFAULT_SPAN_LIMITS, validateSpan } from './validate.js';
import { readVarintAt, utf8At } from './wire.js';

export interface ScanBenchResult {
  spans: number;
  requestBytes: number;
  /** scanExportRequest + readSpanFields + forEachAttribute (visiting every attribute). */
  scanSpansPerSec: number;
  /** The above plus validateSpan (its structural check walks every nested message). */
  scanValidateSpansPerSec: number;
  /** decodeExportRequest into model objects. */
  fullDecodeSpansPerSec: number;
}

/** Deterministic pseudo-random bytes so runs are comparable. */
function bytesFrom(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const str = (key: string, value: string): KeyValue => ({ key, value: { kind: 'string', value } });
const int = (key: string, value: number): KeyValue => ({ key, value: { kind: 'int', value: BigInt(value) } });

export function buildBenchRequest(spanCount = 1000): ResourceSpans[] {
  const routes = ['GET /api/v1/users/{id}', 'POST /api/v1/orders', 'SELECT orders', 'redis GET', 'grpc.health.v1.Health/Check'];
  const resources: ResourceSpans[] = [];
  const perResource = Math.ceil(spanCount / 10);
  let n = 0;
  for (let r = 0; r < 10 && n < spanCount; r++) {
    const spans: Span[] = [];
    const traceId = bytesFrom(r + 1, 16);
    for (let i = 0; i < perResource && n < spanCount; i++, n++) {
      const start = 1_760_000_000_000_000_000n + BigInt(n) * 1_000_000n;
      spans.push({
        traceId,
        spanId: bytesFrom(n * 7 + 3, 8),
        traceState: '',
        parentSpanId: i === 0 ? new Uint8Array(0) : bytesFrom((n - 1) * 7 + 3, 8),
        flags: 0x101,
        name: routes[n % routes.length]!,
        kind: (n % 3) + 1,
        startTimeUnixNano: start,
        endTimeUnixNano: start + BigInt(1000 + (n % 5000)) * 1000n,
        attributes: [
          str('http.request.method', 'GET'),
          str('url.path', `/api/v1/users/${n}`),
          int('http.response.status_code', n % 17 === 0 ? 500 : 200),
          str('server.address', 'users.internal.svc.cluster.local'),
          int('server.port', 8080),
          str('network.protocol.version', '1.1'),
          str('user_agent.original', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36'),
          { key: 'sampled', value: { kind: 'bool', value: true } },
          { key: 'db.rows', value: { kind: 'double', value: n * 1.5 } },
          str('thread.name', `worker-${n % 8}`),
        ],
        droppedAttributesCount: 0,
        events: n % 10 === 0 ? [{ timeUnixNano: start + 500n, name: 'exception', attributes: [str('exception.type', 'TimeoutError')], droppedAttributesCount: 0 }] : [],
        droppedEventsCount: 0,
        links: [],
        droppedLinksCount: 0,
        status: { code: n % 17 === 0 ? 2 : 0, message: '' },
      });
    }
    resources.push({
      resource: {
        attributes: [str('service.name', `svc-${r}`), str('service.version', '1.4.2'), str('k8s.pod.name', `svc-${r}-7d9f8c-abcde`), str('telemetry.sdk.language', 'nodejs')],
        droppedAttributesCount: 0,
      },
      schemaUrl: 'https://opentelemetry.io/schemas/1.26.0',
      scopeSpans: [{ scope: { name: '@opentelemetry/instrumentation-http', version: '0.52.0', attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', spans }],
    });
  }
  return resources;
}

/** Runs each path `iterations` times over the 1000-span request; returns spans per second. */
export function benchScan(iterations: number): ScanBenchResult {
  const buf = encodeExportRequest(buildBenchRequest(1000));
  const fields = createSpanFields();
  let sink = 0;
  // Touches what routing/indexing would: the key bytes' length, and a cheap read of each value.
  const visit = (b: Uint8Array, ko: number, kl: number, type: number, vo: number, vl: number): void => {
    sink += kl + vl;
    if (type === AnyValueType.INT) sink += readVarintAt(b, vo);
  };

  const lazy = (validate: boolean): number => {
    let spans = 0;
    const req = scanExportRequest(buf);
    for (const rs of req.resourceSpans) {
      sink += readServiceName(rs.resource).length;
      for (const ss of rs.scopeSpans) {
        for (const span of ss.spans) {
          if (!readSpanFields(span, fields)) continue;
          if (validate && validateSpan(span, fields, DEFAULT_SPAN_LIMITS) !== null) continue;
          sink += fields.startTimeUnixNano + utf8At(span, fields.nameOffset, fields.nameLength).length;
          forEachAttribute(span, 0, span.length, 9, visit);
          spans++;
        }
      }
    }
    return spans;
  };
  const full = (): number => {
    let spans = 0;
    for (const rs of decodeExportRequest(buf)) for (const ss of rs.scopeSpans) spans += ss.spans.length;
    return spans;
  };

  const measure = (fn: () => number): number => {
    // Warm up so the JIT has optimised the path before timing.
    for (let i = 0; i < Math.max(5, iterations / 10); i++) fn();
    let spans = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) spans += fn();
    const ns = Number(process.hrtime.bigint() - t0);
    return (spans / ns) * 1e9;
  };

  const result: ScanBenchResult = {
    spans: 1000,
    requestBytes: buf.length,
    scanSpansPerSec: measure(() => lazy(false)),
    scanValidateSpansPerSec: measure(() => lazy(true)),
    fullDecodeSpansPerSec: measure(full),
  };
  if (sink === -1) result.spans = 0; // keeps `sink` observable so the work is not optimised away
  return result;
}
