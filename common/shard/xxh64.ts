// xxHash64 (Collet; spec: github.com/Cyan4973/xxHash doc/xxhash_spec.md). Two implementations:
// a general BigInt one for rare inputs (tenant names, cached by callers) and a fast one specialised to
// 16-byte inputs (trace IDs) built from 32-bit halves, because BigInt arithmetic on the ingest hot path
// costs ~10× more. Both are checked against each other and against published test vectors.

import { mulLo64Hi } from './u64.js';

const MASK = 0xffffffffffffffffn;
const P1 = 0x9e3779b185ebca87n;
const P2 = 0xc2b2ae3d27d4eb4fn;
const P3 = 0x165667b19e3779f9n;
const P4 = 0x85ebca77c2b2ae63n;
const P5 = 0x27d4eb2f165667c5n;

const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (64n - r))) & MASK;
const round = (acc: bigint, lane: bigint): bigint => (rotl((acc + lane * P2) & MASK, 31n) * P1) & MASK;
const mergeRound = (acc: bigint, val: bigint): bigint => ((((acc ^ round(0n, val)) * P1) & MASK) + P4) & MASK;

function readU64(b: Uint8Array, i: number): bigint {
  let v = 0n;
  for (let k = 7; k >= 0; k--) v = (v << 8n) | BigInt(b[i + k]!);
  return v;
}
function readU32(b: Uint8Array, i: number): bigint {
  return BigInt((b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0);
}

/** Reference xxh64 over any bytes; returns the unsigned 64-bit hash. */
export function xxh64(input: Uint8Array, seed: bigint = 0n): bigint {
  const len = input.length;
  let i = 0;
  let h: bigint;
  if (len >= 32) {
    let v1 = (seed + P1 + P2) & MASK;
    let v2 = (seed + P2) & MASK;
    let v3 = seed & MASK;
    let v4 = (seed - P1) & MASK;
    for (; i + 32 <= len; i += 32) {
      v1 = round(v1, readU64(input, i));
      v2 = round(v2, readU64(input, i + 8));
      v3 = round(v3, readU64(input, i + 16));
      v4 = round(v4, readU64(input, i + 24));
    }
    h = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & MASK;
    h = mergeRound(h, v1);
    h = mergeRound(h, v2);
    h = mergeRound(h, v3);
    h = mergeRound(h, v4);
  } else {
    h = (seed + P5) & MASK;
  }
  h = (h + BigInt(len)) & MASK;
  for (; i + 8 <= len; i += 8) {
    h ^= round(0n, readU64(input, i));
    h = ((rotl(h, 27n) * P1) & MASK) + P4;
    h &= MASK;
  }
  if (i + 4 <= len) {
    h ^= (readU32(input, i) * P1) & MASK;
    h = ((rotl(h, 23n) * P2) & MASK) + P3;
    h &= MASK;
    i += 4;
  }
  for (; i < len; i++) {
    h ^= (BigInt(input[i]!) * P5) & MASK;
    h = (rotl(h, 11n) * P1) & MASK;
  }
  h ^= h >> 33n;
  h = (h * P2) & MASK;
  h ^= h >> 29n;
  h = (h * P3) & MASK;
  h ^= h >> 32n;
  return h;
}

// ---- fast path: 64-bit values as (hi, lo) uint32 pairs ----------------------------------------

const split = (x: bigint): [number, number] => [Number(x >> 32n), Number(x & 0xffffffffn)];
const [P1H, P1L] = split(P1);
const [P2H, P2L] = split(P2);
const [P3H, P3L] = split(P3);
const [P4H, P4L] = split(P4);
const [P5H, P5L] = split(P5);

/** A 64-bit value as two unsigned 32-bit halves. */
export interface U64 {
  hi: number;
  lo: number;
}

/**
 * Hasher for 16-byte inputs with per-call seed. Keeps its scratch state inside the closure (no
 * module-level mutable state); one hasher per caller.
 */
export function createXxh64For16(): (seed: U64, b: Uint8Array, off: number, out: U64) => void {
  let rh = 0;
  let rl = 0;

  // (ah,al) * (bh,bl) mod 2^64 → rh, rl
  function mul(ah: number, al: number, bh: number, bl: number): void {
    rl = Math.imul(al, bl) >>> 0;
    rh = mulLo64Hi(ah, al, bh, bl);
  }
  function add(ah: number, al: number, bh: number, bl: number): void {
    const lo = al + bl;
    rl = lo >>> 0;
    rh = (ah + bh + (lo > 0xffffffff ? 1 : 0)) >>> 0;
  }
  function rotl(h: number, l: number, r: number): void {
    if (r === 32) {
      rh = l;
      rl = h;
    } else if (r < 32) {
      rh = ((h << r) | (l >>> (32 - r))) >>> 0;
      rl = ((l << r) | (h >>> (32 - r))) >>> 0;
    } else {
      const s = r - 32;
      rh = ((l << s) | (h >>> (32 - s))) >>> 0;
      rl = ((h << s) | (l >>> (32 - s))) >>> 0;
    }
  }
  const u32 = (b: Uint8Array, i: number): number => (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;

  return function hash16(seed: U64, b: Uint8Array, off: number, out: U64): void {
    // h = seed + P5 + 16
    add(seed.hi, seed.lo, P5H, P5L);
    add(rh, rl, 0, 16);
    let hh = rh;
    let hl = rl;
    for (let lane = 0; lane < 2; lane++) {
      const i = off + lane * 8;
      // k = rotl(lane * P2, 31) * P1
      mul(u32(b, i + 4), u32(b, i), P2H, P2L);
      rotl(rh, rl, 31);
      mul(rh, rl, P1H, P1L);
      hh = (hh ^ rh) >>> 0;
      hl = (hl ^ rl) >>> 0;
      // h = rotl(h, 27) * P1 + P4
      rotl(hh, hl, 27);
      mul(rh, rl, P1H, P1L);
      add(rh, rl, P4H, P4L);
      hh = rh;
      hl = rl;
    }
    // avalanche: h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32
    hl = (hl ^ (hh >>> 1)) >>> 0;
    mul(hh, hl, P2H, P2L);
    hh = rh;
    hl = rl;
    const sl = ((hl >>> 29) | (hh << 3)) >>> 0;
    const sh = hh >>> 29;
    hl = (hl ^ sl) >>> 0;
    hh = (hh ^ sh) >>> 0;
    mul(hh, hl, P3H, P3L);
    hh = rh;
    hl = (rl ^ rh) >>> 0;
    out.hi = hh;
    out.lo = hl;
  };
}
