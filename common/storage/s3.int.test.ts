// The conformance suite against a real S3-compatible server (SeaweedFS, started by this test on
// 127.0.0.1 and stopped by PID), plus what only a real client/server pair shows: configuration
// errors that name their fix, prefixes, and failures that must come back fast and unretried
// (refused connection, a server that never answers, 5xx and throttling answers).
import http from 'node:http';
import net from 'node:net';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../proc/index.js';
import type { ObjectStore } from './object-store.js';
import { createS3ObjectStore, type S3ObjectStoreOptions } from './s3.js';
import { describeObjectStoreConformance, expectBytes, expectCode } from './testing/conformance.js';
import { startSeaweedFs, type S3TestServer } from './testing/seaweedfs-server.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

// One server for the whole file (startup, including SeaweedFS's first volume allocation, takes
// seconds); each suite gets its own bucket.
let serverStarting: Promise<S3TestServer> | undefined;
const sharedServer = (): Promise<S3TestServer> => (serverStarting ??= startSeaweedFs()); // throws (fails the suite) when weed is missing
afterAll(async () => {
  const server = await serverStarting?.catch(() => undefined);
  await server?.stop();
});

describeObjectStoreConformance('s3 (SeaweedFS)', async () => {
  const server = await sharedServer();
  await server.createBucket('skein-conformance');
  const options: S3ObjectStoreOptions = { endpoint: server.endpoint, region: server.region, bucket: 'skein-conformance', prefix: 'cluster-a', credentials: server.credentials };
  return {
    store: createS3ObjectStore(options),
    open: () => createS3ObjectStore(options),
    close: () => {},
  };
});

/** An endpoint that accepts TCP connections and never answers; counts connections. */
async function startSilentServer(): Promise<{ endpoint: string; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** An endpoint answering every request with `status` and an S3 error body; counts requests. */
async function startErrorServer(status: number, code: string): Promise<{ endpoint: string; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'content-type': 'application/xml' });
      res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>test says ${code}</Message></Error>`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('s3 object store against SeaweedFS', () => {
  let server: S3TestServer;
  const stores: ObjectStore[] = [];
  const open = (options: Partial<S3ObjectStoreOptions> = {}): ObjectStore => {
    const store = createS3ObjectStore({ endpoint: server.endpoint, region: server.region, bucket: 'skein-specific', credentials: server.credentials, ...options });
    stores.push(store);
    return store;
  };

  beforeAll(async () => {
    server = await sharedServer();
    await server.createBucket('skein-specific');
  });
  afterAll(async () => {
    for (const s of stores) await s.close();
  });

  it('stores key k as object <prefix>/k; stores with other prefixes do not see it; foreign objects are not listed', async () => {
    const a = open({ prefix: 'tenant-a/blocks' });
    const b = open({ prefix: '/tenant-b/' }); // slashes around a prefix are trimmed
    await a.put('x/1', text('a1'));
    await b.put('x/1', text('b1'));
    const raw = new S3Client({ endpoint: server.endpoint, region: server.region, forcePathStyle: true, credentials: server.credentials });
    try {
      const listed = await raw.send(new ListObjectsV2Command({ Bucket: 'skein-specific' }));
      expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual(['tenant-a/blocks/x/1', 'tenant-b/x/1']);
      // Objects other tools put under the prefix whose names are no valid keys.
      for (const key of ['tenant-a/blocks/has space', 'tenant-a/blocks/dir-marker/']) {
        await raw.send(new PutObjectCommand({ Bucket: 'skein-specific', Key: key, Body: 'foreign' }));
      }
    } finally {
      raw.destroy();
    }
    expect(await a.list('')).toEqual([{ key: 'x/1', size: 2 }]);
    expectBytes(await b.get('x/1'), text('b1'));
    expect(a.description).toContain('s3://skein-specific/tenant-a/blocks');
  });

  it('rejects an invalid prefix or an empty bucket when created', () => {
    expect(() => createS3ObjectStore({ region: 'us-east-1', bucket: 'b', prefix: 'a/../b' })).toThrow(/prefix/);
    expect(() => createS3ObjectStore({ region: 'us-east-1', bucket: '' })).toThrow(/bucket/);
  });

  it('a missing bucket is UNAVAILABLE naming the bucket, the endpoint and the fix — also for stat, whose HEAD cannot say', async () => {
    const store = open({ bucket: 'no-such-bucket' });
    for (const call of [() => store.get('k'), () => store.stat('k'), () => store.list(''), () => store.put('k', text('x')), () => store.getRange('k', 0, 0)]) {
      const e = await expectCode(call(), 'UNAVAILABLE');
      expect(e.message).toContain('"no-such-bucket" not found');
      expect(e.message).toContain(server.endpoint);
      expect(e.message).toContain('create it');
    }
  });

  it('refused credentials are UNAVAILABLE telling to check the access key (GET with an error body, HEAD without)', async () => {
    const store = open({ credentials: { accessKeyId: server.credentials.accessKeyId, secretAccessKey: 'wrong' } });
    for (const call of [() => store.get('k'), () => store.stat('k'), () => store.list(''), () => store.put('k', text('x'))]) {
      const e = await expectCode(call(), 'UNAVAILABLE');
      expect(e.message).toContain('check the access key');
    }
  });

  it('a refused connection is UNAVAILABLE at once, naming the endpoint', async () => {
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    const store = open({ endpoint });
    const started = Date.now();
    const e = await expectCode(store.get('k'), 'UNAVAILABLE');
    expect(e.message).toContain(endpoint);
    expect(e.retryable).toBe(true);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a server that never answers fails after the idle timeout, with one attempt (no SDK retries)', async () => {
    const silent = await startSilentServer();
    try {
      const store = open({ endpoint: silent.endpoint, idleTimeoutMs: 400 });
      const started = Date.now();
      await expectCode(store.get('k'), 'UNAVAILABLE');
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(350);
      expect(elapsed).toBeLessThan(3_000);
      expect(silent.connections()).toBe(1);
      // The caller's signal ends a hung call at once, without waiting for the timeout.
      const slow = open({ endpoint: silent.endpoint });
      const reason = new Error('caller gave up');
      const controller = new AbortController();
      const get = slow.get('k', { signal: controller.signal });
      setTimeout(() => controller.abort(reason), 100);
      const t0 = Date.now();
      await expect(get).rejects.toBe(reason);
      expect(Date.now() - t0).toBeLessThan(1_000);
    } finally {
      await silent.close();
    }
  });

  it('a hung SeaweedFS (SIGSTOP) times out as UNAVAILABLE and works again once resumed', async () => {
    const store = open({ idleTimeoutMs: 500 });
    await store.put('hang/k', text('v'));
    server.pause();
    try {
      await expectCode(store.get('hang/k'), 'UNAVAILABLE');
    } finally {
      server.resume();
    }
    expectBytes(await store.get('hang/k'), text('v'));
  });

  it.each([
    [503, 'SlowDown'],
    [500, 'InternalError'],
    [503, 'ServiceUnavailable'],
  ])('HTTP %i %s is UNAVAILABLE (retryable), sent once', async (status, code) => {
    const failing = await startErrorServer(status, code);
    try {
      const store = open({ endpoint: failing.endpoint });
      const e = await expectCode(store.put('k', text('x')), 'UNAVAILABLE');
      expect(e.retryable).toBe(true);
      expect(failing.requests()).toBe(1);
      await expectCode(store.get('k'), 'UNAVAILABLE');
      expect(failing.requests()).toBe(2);
    } finally {
      await failing.close();
    }
  });
});
