// The local multi-process cluster for e2e suites (etcd, controller(s), ingesters, querier on free
// ports and temp dirs) plus a load generator that records every acknowledged span, and a checker
// that asks the querier for each of them. Built on common/proc's startLocalCluster, which `skein
// local-cluster` (`make cluster`) uses too.
import { encodeExportRequest, decodeExportRequest } from '../../common/otlp/index.js';
import { toHex } from '../../common/model/index.js';
import { startLocalCluster, type LocalCluster, type LocalClusterOptions } from '../../common/proc/index.js';
import { makeDataDir, SKEIN_BIN } from './all-in-one.js';
import { makeBatch } from './spans.js';

export interface TestCluster extends LocalCluster {
  readonly dataDir: string;
  /** OTLP/HTTP base URLs of the ingesters that are running now. */
  liveHttpTargets(): string[];
  /** Stops everything and removes the temp dirs. */
  destroy(): Promise<void>;
}

export async function startTestCluster(options: Partial<Omit<LocalClusterOptions, 'skeinBin' | 'dataDir' | 'ports'>> = {}): Promise<TestCluster> {
  const data = makeDataDir('skein-cluster-');
  let cluster: LocalCluster;
  try {
    cluster = await startLocalCluster({
      skeinBin: SKEIN_BIN,
      dataDir: data.dir,
      ports: 'ephemeral',
      ingesters: options.ingesters ?? 3,
      shards: options.shards ?? 4,
      leaseTtlSeconds: options.leaseTtlSeconds ?? 2,
      logLevel: options.logLevel ?? 'info',
      ...options,
    });
  } catch (e) {
    data.remove();
    throw e;
  }
  return {
    ...cluster,
    // The ingester list grows with addIngester(); read through to the live array.
    get ingesters() {
      return cluster.ingesters;
    },
    dataDir: data.dir,
    liveHttpTargets: () => cluster.ingesters.filter((p) => p.running()).map((p) => `http://${p.ready()['otlpHttp']}`),
    async destroy() {
      try {
        await Promise.allSettled([cluster.querier.kill(), ...cluster.ingesters.map((p) => p.kill()), ...cluster.controllers.map((p) => p.kill())]);
        await cluster.etcd.stop();
      } finally {
        data.remove();
      }
    },
  };
}

export interface AckRecord {
  /** traceId hex → acknowledged span IDs (hex). */
  readonly spans: Map<string, Set<string>>;
  sent: number;
  acked: number;
  failed: number;
  /** Status or error text → count, for failed requests. */
  readonly failures: Map<string, number>;
  /** Date.now() of each acknowledgement (to measure gaps). */
  readonly ackTimes: number[];
}

export interface Load {
  readonly record: AckRecord;
  /** Stops sending and waits for in-flight requests. */
  stop(): Promise<AckRecord>;
}

/**
 * Sends OTLP/HTTP protobuf batches (`traces` traces × `spansPerTrace` spans) from `concurrency`
 * loops, round-robin over `targets()` (re-read per request so a test can take ingesters out), and
 * records every acknowledged span. Bounded: stops by itself after `maxRequests`.
 */
export function startLoad(options: { targets: () => string[]; concurrency?: number; traces?: number; spansPerTrace?: number; maxRequests?: number; pauseMs?: number }): Load {
  const record: AckRecord = { spans: new Map(), sent: 0, acked: 0, failed: 0, failures: new Map(), ackTimes: [] };
  let stopped = false;
  let next = 0;
  const maxRequests = options.maxRequests ?? 20_000;
  const loop = async (): Promise<void> => {
    while (!stopped && record.sent < maxRequests) {
      const targets = options.targets();
      if (targets.length === 0) {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      const target = targets[next++ % targets.length]!;
      const { request, spans } = makeBatch(options.traces ?? 5, options.spansPerTrace ?? 4);
      record.sent++;
      let outcome: string;
      try {
        const res = await fetch(`${target}/v1/traces`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-protobuf' },
          body: encodeExportRequest(request),
          signal: AbortSignal.timeout(15_000),
        });
        const text = await res.text();
        outcome = res.status === 200 ? 'ok' : `${res.status} ${text.slice(0, 160)}`;
      } catch (e) {
        outcome = `error ${(e as Error).message}`;
      }
      if (outcome === 'ok') {
        record.acked++;
        record.ackTimes.push(Date.now());
        for (const s of spans) {
          const t = toHex(s.traceId);
          let set = record.spans.get(t);
          if (!set) record.spans.set(t, (set = new Set()));
          set.add(toHex(s.spanId));
        }
      } else {
        record.failed++;
        record.failures.set(outcome, (record.failures.get(outcome) ?? 0) + 1);
      }
      if (options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
    }
  };
  const loops = Array.from({ length: options.concurrency ?? 3 }, () => loop());
  return {
    record,
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return record;
    },
  };
}

/** Waits until `predicate` holds (polling), or throws naming `what` after `timeoutMs`. */
export async function waitFor(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 30_000, intervalMs = 50): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Asks the querier's Tempo API for every acknowledged trace; returns the acknowledged span IDs it did not return. */
export async function missingSpans(tempo: string, record: AckRecord): Promise<{ missing: string[]; partialAnswers: number; partialReasons: string[] }> {
  const missing: string[] = [];
  let partialAnswers = 0;
  const partialReasons = new Set<string>();
  const entries = [...record.spans];
  // A few requests at a time: thousands of traces, one querier.
  for (let i = 0; i < entries.length; i += 16) {
    await Promise.all(
      entries.slice(i, i + 16).map(async ([traceId, spanIds]) => {
        const res = await fetch(`http://${tempo}/api/traces/${traceId}`, { headers: { accept: 'application/protobuf' } });
        const partial = res.headers.get('x-skein-partial');
        if (partial !== null) {
          partialAnswers++;
          if (partialReasons.size < 5) partialReasons.add(partial);
        }
        const got = new Set<string>();
        if (res.status === 200) {
          const rs = decodeExportRequest(new Uint8Array(await res.arrayBuffer()));
          for (const r of rs) for (const s of r.scopeSpans) for (const sp of s.spans) got.add(toHex(sp.spanId));
        } else await res.arrayBuffer();
        for (const id of spanIds) if (!got.has(id)) missing.push(`${traceId}/${id}`);
      }),
    );
  }
  return { missing, partialAnswers, partialReasons: [...partialReasons] };
}

/**
 * Waits until the running ingesters (except `skip`, e.g. a paused one) own every shard below
 * `shards` between them, each shard once, and each of them owns at least one when there are enough
 * shards: the controller has finished spreading and no handoff is in flight.
 */
export async function waitSettled(c: { ingesters: readonly { running(): boolean; ready(): Record<string, string> }[] }, shards: number, timeoutMs = 30_000, skip?: unknown): Promise<void> {
  await waitFor(
    `all ${shards} shards owned and spread over the running ingesters`,
    async () => {
      const running = c.ingesters.filter((p) => p.running() && p !== skip);
      const owners = new Map<number, number>();
      let members = 0;
      for (const p of running) {
        const owned = (await ownershipOf(p.ready()['admin']!).catch(() => undefined))?.ownership.owned;
        if (owned === undefined) return false;
        if (owned.length > 0) members++;
        for (const o of owned) owners.set(o.shard, (owners.get(o.shard) ?? 0) + 1);
      }
      const all = Array.from({ length: shards }, (_, n) => owners.get(n) === 1).every(Boolean);
      return all && owners.size === shards && members === Math.min(shards, running.length);
    },
    timeoutMs,
  );
}

/** GET /debug/ownership of an ingester (admin port). */
export async function ownershipOf(admin: string): Promise<OwnershipDebug> {
  // A paused (SIGSTOPped) process accepts the connection but never answers: bound the wait.
  const res = await fetch(`http://${admin}/debug/ownership`, { signal: AbortSignal.timeout(3_000) });
  return (await res.json()) as OwnershipDebug;
}

export interface OwnershipDebug {
  readonly ownership: {
    readonly memberId: string;
    readonly owned: readonly { shard: number; token: number }[];
    readonly acks: readonly { shard: number; token: number; firstAckMs: number; lastAckMs: number; acks: number }[];
    readonly fencedWritesRejected: number;
  };
  readonly shards: readonly { shard: number; state: string; draining: boolean }[];
}
