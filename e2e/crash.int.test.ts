// Invariant 2: an acknowledged span survives kill -9 while its disk survives. Ingest concurrently,
// record what was acknowledged, SIGKILL mid-stream, restart on the same data dir: every acknowledged
// span is returned again. Also: SIGTERM exits 0 after flushing, and the data is there after restart.
import { describe, it, expect, afterEach } from 'vitest';
import { encodeExportRequest, decodeExportRequest } from '../common/otlp/index.js';
import { toHex } from '../common/model/index.js';
import { startSkein, makeDataDir, makeBatch, type RunningSkein } from './harness/index.js';

async function send(skein: RunningSkein, body: Uint8Array): Promise<number> {
  const res = await fetch(`http://${skein.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
  await res.arrayBuffer();
  return res.status;
}

async function spanIdsOf(skein: RunningSkein, traceId: string): Promise<Set<string>> {
  const res = await fetch(`http://${skein.tempo}/api/traces/${traceId}`, { headers: { accept: 'application/protobuf' } });
  if (res.status === 404) return new Set();
  expect(res.status).toBe(200);
  const rs = decodeExportRequest(new Uint8Array(await res.arrayBuffer()));
  return new Set(rs.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((sp) => toHex(sp.spanId)))));
}

describe.each(['batch', 'always'])('crash recovery (fsync=%s)', (fsync) => {
  const dirs: ReturnType<typeof makeDataDir>[] = [];
  const procs: RunningSkein[] = [];
  afterEach(async () => {
    for (const p of procs.splice(0)) await p.kill();
    for (const d of dirs.splice(0)) d.remove();
  });

  it('every acknowledged span is served after SIGKILL and restart', async () => {
    const data = makeDataDir();
    dirs.push(data);
    const first = await startSkein({ dataDir: data.dir, args: ['--fsync', fsync, '--shards', '4'] });
    procs.push(first);
    const acknowledged = new Map<string, Set<string>>(); // traceId → span IDs
    let sent = 0;
    let stop = false;
    // 4 concurrent senders; the kill lands while requests are in flight.
    const sender = async (): Promise<void> => {
      while (!stop) {
        const { request, spans } = makeBatch(20, 5);
        sent++;
        let status: number;
        try {
          status = await send(first, encodeExportRequest(request));
        } catch {
          return; // connection died with the process: not acknowledged
        }
        if (status !== 200) continue;
        for (const s of spans) {
          const t = toHex(s.traceId);
          let set = acknowledged.get(t);
          if (!set) acknowledged.set(t, (set = new Set()));
          set.add(toHex(s.spanId));
        }
      }
    };
    const senders = Array.from({ length: 4 }, () => sender());
    while (acknowledged.size < 400) await new Promise((r) => setTimeout(r, 20));
    await first.kill();
    stop = true;
    await Promise.all(senders);
    expect(sent).toBeGreaterThan(0);

    const second = await startSkein({ dataDir: data.dir, args: ['--fsync', fsync, '--shards', '4'] });
    procs.push(second);
    let missing = 0;
    for (const [traceId, spanIds] of acknowledged) {
      const got = await spanIdsOf(second, traceId);
      for (const id of spanIds) if (!got.has(id)) missing++;
    }
    expect(missing).toBe(0);
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM exits 0 and a restart serves everything', async () => {
    const data = makeDataDir();
    try {
      const first = await startSkein({ dataDir: data.dir, args: ['--fsync', 'none'] });
      const { request, spans } = makeBatch(10, 3);
      expect(await send(first, encodeExportRequest(request))).toBe(200);
      expect(await first.stop()).toBe(0);
      expect(first.logs.join('\n')).toContain('stopped cleanly');
      const second = await startSkein({ dataDir: data.dir });
      try {
        const got = await spanIdsOf(second, toHex(spans[0]!.traceId));
        expect(got.size).toBe(3);
      } finally {
        expect(await second.stop()).toBe(0);
      }
    } finally {
      data.remove();
    }
  });
});

describe('shard count changes between runs', () => {
  it('spans written with 8 shards are served after restarts with 2 and then 5 shards', async () => {
    const data = makeDataDir();
    try {
      const first = await startSkein({ dataDir: data.dir, args: ['--shards', '8'] });
      const { request, spans } = makeBatch(40, 3);
      expect(await send(first, encodeExportRequest(request))).toBe(200);
      expect(await first.stop()).toBe(0);
      const traces = [...new Set(spans.map((s) => toHex(s.traceId)))];
      for (const shards of ['2', '5']) {
        const next = await startSkein({ dataDir: data.dir, args: ['--shards', shards] });
        try {
          let total = 0;
          for (const t of traces) total += (await spanIdsOf(next, t)).size;
          expect(total).toBe(spans.length);
          if (shards === '2') expect(next.logs.join('\n')).toContain('retired shard');
        } finally {
          expect(await next.stop()).toBe(0);
        }
      }
      const { readdirSync } = await import('node:fs');
      expect(readdirSync(`${data.dir}/wal`).sort()).toEqual(['0', '1', '2', '3', '4']);
    } finally {
      data.remove();
    }
  });
});
