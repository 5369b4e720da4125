// BlockMeta: what the manifest records about a block (common/coord keyspace's BlockMeta uses the
// same field names) and what `meta.json`, the block's last-written object, holds.
import { FORMAT_VERSION } from './format.js';

export interface BlockMeta {
  readonly blockId: string;
  readonly tenant: string;
  readonly shard: number;
  readonly formatVersion: number;
  /** 0 for a block cut from a head; a compaction output is one above its inputs. */
  readonly level: number;
  /** Smallest and largest trace ID, 32 lowercase hex digits. */
  readonly minTraceId: string;
  readonly maxTraceId: string;
  /** Earliest span start, ms since the epoch, rounded down. */
  readonly minStartMs: number;
  /** Latest span end, ms since the epoch, rounded up (never below minStartMs). */
  readonly maxEndMs: number;
  readonly spanCount: number;
  readonly traceCount: number;
  /** Sum of the sizes of the block's objects, meta.json included. */
  readonly bytes: number;
}

const HEX32 = /^[0-9a-f]{32}$/;

/** Parses meta.json; returns a reason instead of the meta when it is not a valid version-1 meta. */
export function parseMeta(body: Uint8Array): { ok: true; meta: BlockMeta } | { ok: false; version: boolean; reason: string } {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch (e) {
    return { ok: false, version: false, reason: `not JSON (${e instanceof Error ? e.message : String(e)})` };
  }
  if (typeof v !== 'object' || v === null) return { ok: false, version: false, reason: 'not a JSON object' };
  const m = v as Record<string, unknown>;
  if (m['formatVersion'] !== FORMAT_VERSION) return { ok: false, version: true, reason: `format version ${JSON.stringify(m['formatVersion'])} (this reader knows ${FORMAT_VERSION})` };
  const int = (k: string): boolean => Number.isSafeInteger(m[k]) && (m[k] as number) >= 0;
  for (const k of ['shard', 'level', 'minStartMs', 'maxEndMs', 'spanCount', 'traceCount', 'bytes']) if (!int(k)) return { ok: false, version: false, reason: `field ${k} is not a non-negative integer` };
  for (const k of ['blockId', 'tenant']) if (typeof m[k] !== 'string' || m[k] === '') return { ok: false, version: false, reason: `field ${k} is not a non-empty string` };
  for (const k of ['minTraceId', 'maxTraceId']) if (typeof m[k] !== 'string' || !HEX32.test(m[k])) return { ok: false, version: false, reason: `field ${k} is not 32 lowercase hex digits` };
  return {
    ok: true,
    meta: {
      blockId: m['blockId'] as string,
      tenant: m['tenant'] as string,
      shard: m['shard'] as number,
      formatVersion: FORMAT_VERSION,
      level: m['level'] as number,
      minTraceId: m['minTraceId'] as string,
      maxTraceId: m['maxTraceId'] as string,
      minStartMs: m['minStartMs'] as number,
      maxEndMs: m['maxEndMs'] as number,
      spanCount: m['spanCount'] as number,
      traceCount: m['traceCount'] as number,
      bytes: m['bytes'] as number,
    },
  };
}
