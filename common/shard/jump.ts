// Jump consistent hash (Lamping & Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm",
// arXiv:1406.2294). When the bucket count grows from n to n+1 only ~1/(n+1) of keys move, all of them
// to the new bucket. The 64-bit LCG step is done on uint32 halves to stay off BigInt.

import { mulLo64Hi } from './u64.js';

const C_HI = 0x27bb2ee6; // 2862933555777941757 = 0x27BB2EE687B0B0FD
const C_LO = 0x87b0b0fd;

/** Bucket in [0, buckets) for the 64-bit key (hi, lo). */
export function jumpHash(hi: number, lo: number, buckets: number): number {
  if (!Number.isInteger(buckets) || buckets < 1) throw new RangeError(`buckets must be a positive integer, got ${buckets}`);
  let kh = hi >>> 0;
  let kl = lo >>> 0;
  let b = -1;
  let j = 0;
  while (j < buckets) {
    b = j;
    // key = key * C + 1 (mod 2^64)
    let nl = Math.imul(kl, C_LO) >>> 0;
    let nh = mulLo64Hi(kh, kl, C_HI, C_LO);
    nl = (nl + 1) >>> 0;
    if (nl === 0) nh = (nh + 1) >>> 0;
    kh = nh;
    kl = nl;
    // j = (b + 1) * (2^31 / ((key >>> 33) + 1)), in float64 as the reference does
    j = Math.floor((b + 1) * (2147483648 / ((kh >>> 1) + 1)));
  }
  return b;
}

/** BigInt transcription of the paper's code; the reference the fast version is tested against. */
export function jumpHashReference(key: bigint, buckets: number): number {
  let b = -1n;
  let j = 0n;
  let k = BigInt.asUintN(64, key);
  while (j < BigInt(buckets)) {
    b = j;
    k = BigInt.asUintN(64, k * 2862933555777941757n + 1n);
    j = BigInt(Math.floor(Number(b + 1n) * (Number(1n << 31n) / Number((k >> 33n) + 1n))));
  }
  return Number(b);
}
