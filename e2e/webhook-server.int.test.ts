// The admission webhook's HTTPS server on a real socket: certificates from operator/webhook/certs.ts,
// a client that trusts only the test CA (as the apiserver trusts only caBundle), and a mutate whose
// behaviour each request picks by the pod's name.
import { X509Certificate } from 'node:crypto';
import { Agent, request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSilentLogger } from '../common/log/index.js';
import { createRegistry } from '../common/metrics/index.js';
import {
  createCa,
  issueServingCert,
  startWebhookServer,
  type AdmissionRequest,
  type AdmissionOutcome,
  type CertKeyPair,
  type TlsMaterial,
  type WebhookServer,
} from '../operator/webhook/index.js';

const HOST = '127.0.0.1';
const BUDGET_MS = 400;
const MAX_BODY = 256 * 1024;
const PATCH = [{ op: 'add', path: '/metadata/labels', value: { injected: 'yes' } }];

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
  fingerprint: string;
  ms: number;
}

function call(port: number, options: { method?: string; path?: string; body?: string | Buffer; ca: string | string[]; agent?: Agent; headers?: Record<string, string> }): Promise<Reply> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: HOST,
        port,
        method: options.method ?? 'POST',
        path: options.path ?? '/mutate',
        ca: options.ca,
        agent: options.agent ?? false,
        headers: { 'content-type': 'application/json', ...(options.headers ?? {}) },
      },
      (res) => {
        const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, fingerprint, ms: performance.now() - started });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const review = (name: string, uid = `uid-${name}`): string =>
  JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'apps',
      operation: 'CREATE',
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'apps' }, spec: { containers: [{ name: 'app', image: 'app' }] } },
    },
  });

const fingerprintOf = (pem: string): string => new X509Certificate(pem).fingerprint256;

describe('webhook server over HTTPS', () => {
  let ca: CertKeyPair;
  let serving: CertKeyPair;
  let material: TlsMaterial | undefined;
  let server: WebhookServer;
  const registry = createRegistry({ defaultMetrics: false });
  const aborted: string[] = [];

  async function mutate(req: AdmissionRequest, signal: AbortSignal): Promise<AdmissionOutcome> {
    switch (req.object?.metadata.name) {
      case 'patch-me':
        return { patch: PATCH, warnings: ['skein: injected agent for cluster tracing/main'] };
      case 'throw-me':
        throw new Error('TracingCluster lookup failed: connection refused');
      case 'slow':
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 10_000);
          signal.addEventListener('abort', () => {
            clearTimeout(t);
            aborted.push(req.uid);
            resolve();
          });
        });
        return { patch: PATCH };
      case 'bad-patch':
        return { patch: 'not a list' as unknown as object[] };
      default:
        return {};
    }
  }

  beforeAll(async () => {
    const now = new Date();
    ca = await createCa({ commonName: 'skein-webhook-test-ca', validityDays: 30, now });
    serving = await issueServingCert({ ca, dnsNames: ['localhost', HOST], validityDays: 30, now });
    material = serving;
    server = await startWebhookServer({
      host: HOST,
      port: 0,
      tls: () => material,
      mutate,
      logger: createSilentLogger(),
      registry,
      budgetMs: BUDGET_MS,
      maxBodyBytes: MAX_BODY,
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers with a JSON patch when mutate returns one, echoing the uid', async () => {
    const r = await call(server.port, { body: review('patch-me', 'abc-123'), ca: ca.certPem });
    expect(r.status).toBe(200);
    expect(r.json.apiVersion).toBe('admission.k8s.io/v1');
    expect(r.json.kind).toBe('AdmissionReview');
    expect(r.json.response).toMatchObject({ uid: 'abc-123', allowed: true, patchType: 'JSONPatch', warnings: ['skein: injected agent for cluster tracing/main'] });
    expect(JSON.parse(Buffer.from(r.json.response.patch, 'base64').toString('utf8'))).toEqual(PATCH);
  });

  it('answers allowed with no patch when there is nothing to change', async () => {
    const r = await call(server.port, { body: review('leave-me'), ca: ca.certPem });
    expect(r.status).toBe(200);
    expect(r.json.response).toEqual({ uid: 'uid-leave-me', allowed: true });
  });

  it('fails open with a warning when mutate throws', async () => {
    const r = await call(server.port, { body: review('throw-me'), ca: ca.certPem });
    expect(r.status).toBe(200);
    expect(r.json.response.allowed).toBe(true);
    expect(r.json.response.patch).toBeUndefined();
    expect(r.json.response.warnings).toEqual(['skein: sidecar not injected: TracingCluster lookup failed: connection refused']);
  });

  it('fails open within its budget when mutate is slow, and aborts it', async () => {
    const r = await call(server.port, { body: review('slow'), ca: ca.certPem });
    expect(r.status).toBe(200);
    expect(r.json.response).toEqual({ uid: 'uid-slow', allowed: true, warnings: [`skein: sidecar not injected: mutation took longer than ${BUDGET_MS} ms`] });
    expect(r.ms).toBeGreaterThanOrEqual(BUDGET_MS - 50);
    expect(r.ms).toBeLessThan(BUDGET_MS + 1_000);
    expect(aborted).toContain('uid-slow');
  });

  it('keeps inside the apiserver’s ?timeout= when it is shorter than the budget', async () => {
    const short = await startWebhookServer({ host: HOST, port: 0, tls: () => material, mutate, logger: createSilentLogger(), registry: createRegistry({ defaultMetrics: false }), budgetMs: 5_000 });
    try {
      const r = await call(short.port, { path: '/mutate?timeout=1s', body: review('slow', 'uid-short'), ca: ca.certPem });
      expect(r.json.response.warnings[0]).toBe('skein: sidecar not injected: mutation took longer than 500 ms');
      expect(r.ms).toBeLessThan(1_000);
    } finally {
      await short.close();
    }
  });

  it('fails open when mutate returns something that is not a JSON patch', async () => {
    const r = await call(server.port, { body: review('bad-patch'), ca: ca.certPem });
    expect(r.json.response).toEqual({ uid: 'uid-bad-patch', allowed: true, warnings: ['skein: sidecar not injected: the mutation produced an invalid JSON patch'] });
  });

  it.each([
    ['malformed JSON', '{"apiVersion": ', /not JSON/],
    ['a JSON array', '[]', /not a JSON object/],
    ['another kind', JSON.stringify({ apiVersion: 'v1', kind: 'Pod' }), /expected kind AdmissionReview/],
    ['admission.k8s.io/v1beta1', JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'x' } }), /apiVersion admission\.k8s\.io\/v1/],
    ['no request', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), /no request/],
    ['no uid', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: '' } }), /no uid/],
  ])('rejects %s with 400 and a clear message', async (_name, body, message) => {
    const r = await call(server.port, { body, ca: ca.certPem });
    expect(r.status).toBe(400);
    expect(r.text).toMatch(message);
  });

  it('rejects a body over the limit with 413, declared or streamed', async () => {
    const big = Buffer.alloc(MAX_BODY + 1, 0x20);
    const declared = await call(server.port, { body: big, ca: ca.certPem });
    expect(declared.status).toBe(413);
    expect(declared.text).toMatch(`larger than ${MAX_BODY} bytes`);
    const streamed = await call(server.port, { body: big, ca: ca.certPem, headers: { 'transfer-encoding': 'chunked' } });
    expect(streamed.status).toBe(413);
    // The server is fine afterwards.
    expect((await call(server.port, { body: review('leave-me'), ca: ca.certPem })).status).toBe(200);
  });

  it('serves /healthz, 405 for other methods on /mutate and 404 elsewhere', async () => {
    expect(await call(server.port, { method: 'GET', path: '/healthz', ca: ca.certPem })).toMatchObject({ status: 200, text: 'ok\n' });
    const get = await call(server.port, { method: 'GET', ca: ca.certPem });
    expect(get.status).toBe(405);
    expect(get.headers['allow']).toBe('POST');
    expect((await call(server.port, { method: 'GET', path: '/validate', ca: ca.certPem })).status).toBe(404);
  });

  it('is not trusted by a client with another CA', async () => {
    const stranger = await createCa({ commonName: 'stranger', validityDays: 1, now: new Date() });
    await expect(call(server.port, { body: review('leave-me'), ca: stranger.certPem })).rejects.toThrow();
  });

  it('swaps the serving certificate for new connections without a restart or a failed request', async () => {
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const before = await call(server.port, { body: review('leave-me'), ca: ca.certPem, agent: keepAlive });
      expect(before.fingerprint).toBe(fingerprintOf(serving.certPem));

      // Requests on fresh connections all through the swap.
      let stop = false;
      const results: Reply[] = [];
      const traffic = (async () => {
        while (!stop) results.push(await call(server.port, { body: review('patch-me'), ca: ca.certPem }));
      })();
      await sleep(100);
      const renewed = await issueServingCert({ ca, dnsNames: ['localhost', HOST], validityDays: 30, now: new Date() });
      material = renewed;
      await sleep(100);
      stop = true;
      await traffic;

      expect(results.length).toBeGreaterThan(2);
      expect(results.every((r) => r.status === 200 && r.json.response.allowed === true)).toBe(true);
      const seen = new Set(results.map((r) => r.fingerprint));
      expect(seen).toEqual(new Set([fingerprintOf(serving.certPem), fingerprintOf(renewed.certPem)]));
      expect(results.at(-1)!.fingerprint).toBe(fingerprintOf(renewed.certPem));
      // A connection opened before the swap keeps its certificate and keeps working.
      const reused = await call(server.port, { body: review('leave-me'), ca: ca.certPem, agent: keepAlive });
      expect(reused.status).toBe(200);
      expect(reused.fingerprint).toBe(fingerprintOf(serving.certPem));

      // A certificate from a new CA (rotation): clients trusting both CAs never fail.
      const nextCa = await createCa({ commonName: 'skein-webhook-test-ca-2', validityDays: 30, now: new Date() });
      const rotated = await issueServingCert({ ca: nextCa, dnsNames: [HOST], validityDays: 30, now: new Date() });
      material = rotated;
      const r = await call(server.port, { body: review('leave-me'), ca: [ca.certPem, nextCa.certPem] });
      expect(r.fingerprint).toBe(fingerprintOf(rotated.certPem));
      await expect(call(server.port, { body: review('leave-me'), ca: ca.certPem })).rejects.toThrow(/unable to verify/);
    } finally {
      keepAlive.destroy();
    }
  });

  it('keeps the current certificate when tls() yields an unusable one', async () => {
    material = serving;
    expect((await call(server.port, { body: review('leave-me'), ca: ca.certPem })).fingerprint).toBe(fingerprintOf(serving.certPem));
    material = { certPem: 'garbage', keyPem: 'garbage' };
    const r = await call(server.port, { body: review('leave-me'), ca: ca.certPem });
    expect(r.status).toBe(200);
    expect(r.fingerprint).toBe(fingerprintOf(serving.certPem));
    material = serving;
  });

  it('counts every outcome', async () => {
    const text = await registry.metrics();
    for (const outcome of ['patched', 'unchanged', 'failed_open', 'bad_request']) {
      expect(text).toMatch(new RegExp(`skein_webhook_requests_total\\{outcome="${outcome}"\\} [1-9]`));
    }
    expect(text).toMatch(/skein_webhook_duration_seconds_count\{outcome="patched"\} [1-9]/);
  });
});

describe('webhook server lifecycle', () => {
  it('refuses handshakes until there is a certificate, then serves it', async () => {
    const ca = await createCa({ commonName: 'skein-webhook-test-ca', validityDays: 1, now: new Date() });
    let material: TlsMaterial | undefined;
    const server = await startWebhookServer({
      host: HOST,
      port: 0,
      tls: () => material,
      mutate: () => Promise.resolve({}),
      logger: createSilentLogger(),
      registry: createRegistry({ defaultMetrics: false }),
    });
    try {
      await expect(call(server.port, { method: 'GET', path: '/healthz', ca: ca.certPem })).rejects.toThrow();
      material = await issueServingCert({ ca, dnsNames: [HOST], validityDays: 1, now: new Date() });
      expect((await call(server.port, { method: 'GET', path: '/healthz', ca: ca.certPem })).status).toBe(200);
    } finally {
      await server.close();
    }
    await expect(call(server.port, { method: 'GET', path: '/healthz', ca: ca.certPem })).rejects.toThrow(/ECONNREFUSED/);
  });

  it('close() waits for a request in flight and then stops', async () => {
    const ca = await createCa({ commonName: 'skein-webhook-test-ca', validityDays: 1, now: new Date() });
    const material = await issueServingCert({ ca, dnsNames: [HOST], validityDays: 1, now: new Date() });
    const server = await startWebhookServer({
      host: HOST,
      port: 0,
      tls: () => material,
      mutate: async () => {
        await sleep(200);
        return { patch: PATCH };
      },
      logger: createSilentLogger(),
      registry: createRegistry({ defaultMetrics: false }),
    });
    const inFlight = call(server.port, { body: review('patch-me'), ca: ca.certPem });
    await sleep(50);
    await server.close();
    const r = await inFlight;
    expect(r.status).toBe(200);
    expect(r.json.response.patchType).toBe('JSONPatch');
  });
});
