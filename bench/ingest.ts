// Ingest benchmark: a load client in this process sends 1000-span OTLP requests (~10 attributes per
// span, unique IDs per request) to a server child process over OTLP/gRPC or OTLP/HTTP, and reads the
// server's CPU time from /proc. Reports spans/s (wall) and spans per server CPU-second.
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { encodeExportRequest } from '../common/otlp/index.js';
import { startChild } from '../common/proc/index.js';
import type { KeyValue, Span } from '../common/model/index.js';

export interface IngestRun {
  readonly server: 'skein' | 'sink';
  readonly transport: 'grpc' | 'http';
  readonly spans: number;
  readonly seconds: number;
  readonly serverCpuSeconds: number;
  readonly spansPerSecond: number;
  readonly spansPerCpuSecond: number;
  readonly errors: number;
  readonly requestBytes: number;
}

const CLK_TCK = 100; // Linux USER_HZ; /proc/<pid>/stat utime/stime are in these ticks

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is state (field 3); utime is field 14, stime field 15 → indexes 11, 12
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

const s = (key: string, value: string): KeyValue => ({ key, value: { kind: 'string', value } });
const n = (key: string, value: number): KeyValue => ({ key, value: { kind: 'int', value: BigInt(value) } });

/** A 1000-span request template and the offsets of every ID in it, so each send can make IDs unique. */
export function buildTemplate(spansPerRequest = 1000, spansPerTrace = 10): { body: Buffer; idOffsets: number[] } {
  const spans: Span[] = [];
  const ids: Uint8Array[] = [];
  const now = BigInt(Date.now()) * 1_000_000n;
  for (let t = 0; t < spansPerRequest / spansPerTrace; t++) {
    const traceId = randomBytes(16);
    ids.push(traceId);
    let parent: Uint8Array = new Uint8Array(0);
    for (let i = 0; i < spansPerTrace; i++) {
      const spanId = randomBytes(8);
      ids.push(spanId);
      spans.push({
        traceId,
        spanId,
        traceState: '',
        parentSpanId: parent,
        flags: 1,
        name: i === 0 ? 'GET /api/cart' : `SELECT cart_items ${i % 3}`,
        kind: i === 0 ? 2 : 3,
        startTimeUnixNano: now + BigInt(i * 1000),
        endTimeUnixNano: now + BigInt(i * 1000 + 250_000),
        attributes: [
          s('http.request.method', 'GET'),
          s('http.route', '/api/cart/{id}'),
          n('http.response.status_code', i % 50 === 0 ? 500 : 200),
          s('url.path', `/api/cart/${t * 31 + i}`),
          s('server.address', 'cart.default.svc'),
          n('server.port', 8080),
          s('db.system', 'postgresql'),
          s('db.statement', 'SELECT * FROM cart_items WHERE cart_id = $1'),
          s('user.tier', i % 2 === 0 ? 'gold' : 'free'),
          n('thread.id', 1000 + i),
        ],
        droppedAttributesCount: 0,
        events: [],
        droppedEventsCount: 0,
        links: [],
        droppedLinksCount: 0,
        status: { code: 0, message: '' },
      });
      if (i === 0) parent = spanId;
    }
  }
  const body = Buffer.from(
    encodeExportRequest([
      {
        resource: { attributes: [s('service.name', 'cart'), s('host.name', 'bench-1'), s('k8s.pod.name', 'cart-7d9f')], droppedAttributesCount: 0 },
        schemaUrl: '',
        scopeSpans: [{ scope: { name: 'bench', version: '1.0', attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', spans }],
      },
    ]),
  );
  const idOffsets: number[] = [];
  for (const id of ids) {
    let from = 0;
    for (;;) {
      const at = body.indexOf(id, from);
      if (at < 0) break;
      idOffsets.push(at);
      from = at + id.length;
    }
  }
  return { body, idOffsets };
}

/** Overwrites the first 4 bytes of every ID with the request counter (keeps parent links intact). */
function stamp(template: { body: Buffer; idOffsets: number[] }, counter: number): Buffer {
  const b = Buffer.from(template.body);
  for (const off of template.idOffsets) b.writeUInt32BE(counter >>> 0, off);
  return b;
}

async function startServer(kind: 'skein' | 'sink', binDir: string, dataDir: string): Promise<{ pid: number; otlpGrpc: string; otlpHttp: string; stop: () => Promise<void> }> {
  const args =
    kind === 'skein'
      ? [
          path.join(binDir, 'cli', 'skein.js'),
          'all-in-one',
          '--data-dir',
          dataDir,
          '--fsync',
          'batch',
          '--host',
          '127.0.0.1',
          '--otlp-grpc-port',
          '0',
          '--otlp-http-port',
          '0',
          '--tempo-port',
          '0',
          '--jaeger-port',
          '0',
          '--head-max-bytes',
          '8GiB',
          '--max-request-bytes',
          '64MiB',
        ]
      : [path.join(binDir, 'bench', 'sink.js')];
  const started = await startChild({ args, readyMessage: 'skein ready', timeoutMs: 60_000 });
  return {
    pid: started.pid,
    otlpGrpc: started.ready['otlpGrpc']!,
    otlpHttp: started.ready['otlpHttp']!,
    async stop() {
      await started.stop();
    },
  };
}

/**
 * Closed-loop load: `concurrency` workers call `send` back to back. Only outcomes that complete
 * between startMeasuring() and stopMeasuring() are counted (warm-up and tail are not).
 */
export function startClosedLoop(send: () => Promise<boolean>, concurrency: number): {
  startMeasuring(): void;
  stopMeasuring(): { ok: number; errors: number };
  stop(): Promise<void>;
} {
  let ok = 0;
  let errors = 0;
  let measuring = false;
  let done = false;
  const worker = async (): Promise<void> => {
    while (!done) {
      const success = await send();
      if (!measuring) continue;
      if (success) ok++;
      else errors++;
    }
  };
  const workers = Array.from({ length: concurrency }, () => worker());
  return {
    startMeasuring() {
      ok = 0;
      errors = 0;
      measuring = true;
    },
    stopMeasuring() {
      measuring = false;
      return { ok, errors };
    },
    async stop() {
      done = true;
      await Promise.all(workers);
    },
  };
}

export async function runIngest(options: {
  server: 'skein' | 'sink';
  transport: 'grpc' | 'http';
  binDir: string;
  warmupSeconds: number;
  seconds: number;
  concurrency: number;
}): Promise<IngestRun> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'skein-bench-'));
  const server = await startServer(options.server, options.binDir, dataDir);
  const template = buildTemplate();
  const spansPerRequest = 1000;
  let counter = Math.floor(Math.random() * 1e9);
  let client: grpc.Client | undefined;
  const send: () => Promise<boolean> =
    options.transport === 'grpc'
      ? (() => {
          client = new grpc.Client(server.otlpGrpc, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 * 1024 * 1024 });
          const c = client;
          return () =>
            new Promise<boolean>((resolve) => {
              c.makeUnaryRequest(
                '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
                (b: Buffer) => b,
                (b: Buffer) => b,
                stamp(template, counter++),
                (err) => resolve(err === null),
              );
            });
        })()
      : () =>
          fetch(`http://${server.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: stamp(template, counter++) }).then(
            async (r) => {
              await r.arrayBuffer();
              return r.status === 200;
            },
            () => false,
          );
  const load = startClosedLoop(send, options.concurrency);
  await new Promise((r) => setTimeout(r, options.warmupSeconds * 1000));
  const cpu0 = cpuSeconds(server.pid);
  const t0 = performance.now();
  load.startMeasuring();
  await new Promise((r) => setTimeout(r, options.seconds * 1000));
  const cpu1 = cpuSeconds(server.pid);
  const elapsed = (performance.now() - t0) / 1000;
  const { ok: measured, errors } = load.stopMeasuring();
  await load.stop();
  client?.close();
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
  const spans = measured * spansPerRequest;
  const serverCpu = cpu1 - cpu0;
  return {
    server: options.server,
    transport: options.transport,
    spans,
    seconds: elapsed,
    serverCpuSeconds: serverCpu,
    spansPerSecond: spans / elapsed,
    spansPerCpuSecond: serverCpu > 0 ? spans / serverCpu : 0,
    errors,
    requestBytes: template.body.length,
  };
}
