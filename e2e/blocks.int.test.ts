// Blocks end to end in a real `skein all-in-one`: heads are cut into blocks every second while
// spans stream in and trace-by-ID runs for spans already acknowledged — never "not found", never a
// span missing (invariant 8 across the head→block move); the WAL segments the blocks cover are
// deleted; after SIGKILL and restart every acknowledged span is served from blocks and the replayed
// WAL (the manifest survives in the data dir); search finds traces that live only in blocks.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeExportRequest, encodeExportRequest } from '../common/otlp/index.js';
import { toHex } from '../common/model/index.js';
import { makeBatch, makeDataDir, startSkein, type RunningSkein } from './harness/index.js';

const CUT_ARGS = ['--shards', '2', '--cut-max-age-ms', '1000', '--trace-idle-ms', '0', '--fsync', 'batch'];

async function send(skein: RunningSkein, body: Uint8Array): Promise<number> {
  const res = await fetch(`http://${skein.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
  await res.arrayBuffer();
  return res.status;
}

async function spanIdsOf(skein: RunningSkein, traceId: string): Promise<{ status: number; ids: Set<string> }> {
  const res = await fetch(`http://${skein.tempo}/api/traces/${traceId}`, { headers: { accept: 'application/protobuf' } });
  if (res.status !== 200) {
    await res.arrayBuffer();
    return { status: res.status, ids: new Set() };
  }
  const rs = decodeExportRequest(new Uint8Array(await res.arrayBuffer()));
  return { status: 200, ids: new Set(rs.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((sp) => toHex(sp.spanId))))) };
}

async function metric(skein: RunningSkein, name: string): Promise<number> {
  const text = await (await fetch(`http://${skein.tempo}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) sum += Number(line.split(' ').pop());
  return sum;
}

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(path.join(d, e.name));
      else out.push(path.join(d, e.name));
    }
  };
  await walk(dir);
  return out;
}

describe('blocks in all-in-one', () => {
  const procs: RunningSkein[] = [];
  const dirs: ReturnType<typeof makeDataDir>[] = [];
  afterEach(async () => {
    for (const p of procs.splice(0)) await p.kill();
    for (const d of dirs.splice(0)) d.remove();
  });

  it('cuts under load without a missing span at any moment, and serves everything after SIGKILL and restart', async () => {
    const data = makeDataDir('skein-e2e-blocks-');
    dirs.push(data);
    const first = await startSkein({ dataDir: data.dir, args: CUT_ARGS });
    procs.push(first);

    const acknowledged = new Map<string, Set<string>>();
    const misses: string[] = [];
    let stop = false;
    const sender = async (): Promise<void> => {
      while (!stop) {
        const { request, spans } = makeBatch(10, 4);
        if ((await send(first, encodeExportRequest(request))) !== 200) continue;
        for (const s of spans) {
          const t = toHex(s.traceId);
          let set = acknowledged.get(t);
          if (!set) acknowledged.set(t, (set = new Set()));
          set.add(toHex(s.spanId));
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    // Readers ask for traces already acknowledged, while their heads are cut into blocks.
    const reader = async (): Promise<number> => {
      let reads = 0;
      while (!stop) {
        const traces = [...acknowledged.keys()];
        if (traces.length === 0) {
          await new Promise((r) => setTimeout(r, 10));
          continue;
        }
        const t = traces[Math.floor(Math.random() * traces.length)]!;
        const want = new Set(acknowledged.get(t)!);
        const got = await spanIdsOf(first, t);
        reads++;
        if (got.status !== 200) misses.push(`${t}: HTTP ${got.status}`);
        else for (const id of want) if (!got.ids.has(id)) misses.push(`${t}: span ${id} missing`);
      }
      return reads;
    };
    const senders = [sender(), sender()];
    const readers = [reader(), reader()];
    const deadline = Date.now() + 30_000;
    while ((await metric(first, 'skein_ingester_blocks_flushed_total')) < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    stop = true;
    await Promise.all(senders);
    const reads = (await Promise.all(readers)).reduce((a, b) => a + b, 0);
    expect(await metric(first, 'skein_ingester_blocks_flushed_total')).toBeGreaterThanOrEqual(4);
    expect(reads).toBeGreaterThan(20);
    expect(misses).toEqual([]);
    const blockFiles = await files(path.join(data.dir, 'blocks'));
    expect(blockFiles.some((f) => f.endsWith('meta.json'))).toBe(true);

    // Everything acknowledged, from heads and blocks.
    let missing = 0;
    for (const [t, ids] of acknowledged) {
      const got = await spanIdsOf(first, t);
      for (const id of ids) if (!got.ids.has(id)) missing++;
    }
    expect(missing).toBe(0);

    // The newest traces of the run are found by search, newest first.
    const search = await (await fetch(`http://${first.tempo}/api/search?tags=service.name%3Dloadgen&limit=5`)).json() as { traces: { traceID: string }[] };
    expect(search.traces).toHaveLength(5);

    await first.kill();
    const second = await startSkein({ dataDir: data.dir, args: CUT_ARGS });
    procs.push(second);
    missing = 0;
    for (const [t, ids] of acknowledged) {
      const got = await spanIdsOf(second, t);
      for (const id of ids) if (!got.ids.has(id)) missing++;
    }
    expect(missing).toBe(0);
    expect(second.logs.join('\n')).toMatch(/coordinator state loaded/);
  });

  it('the WAL holds only what is not in blocks yet: segments are deleted after each cut', async () => {
    const data = makeDataDir('skein-e2e-blocks-');
    dirs.push(data);
    const skein = await startSkein({ dataDir: data.dir, args: [...CUT_ARGS, '--wal-segment-bytes', '65536'] });
    procs.push(skein);
    for (let i = 0; i < 30; i++) expect(await send(skein, encodeExportRequest(makeBatch(20, 4).request))).toBe(200);
    const walBytes = async (): Promise<number> => {
      let n = 0;
      for (const f of await files(path.join(data.dir, 'wal'))) n += (await import('node:fs/promises').then((fs) => fs.stat(f))).size;
      return n;
    };
    const before = await walBytes();
    const deadline = Date.now() + 20_000;
    while ((await metric(skein, 'skein_ingester_blocks_flushed_total')) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    // Let the cut after the last write finish.
    await new Promise((r) => setTimeout(r, 2500));
    expect(await walBytes()).toBeLessThan(before / 4);
  });
});
