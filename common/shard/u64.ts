// 64-bit arithmetic on uint32 halves, for hashing without BigInt on hot paths.

/** High 32 bits of the full 64-bit product of two uint32 values (exact; 16-bit limbs). */
export function mulHi32(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) >>> 0;
}

/** High half of (ah:al × bh:bl) mod 2^64; the low half is Math.imul(al, bl) >>> 0. */
export function mulLo64Hi(ah: number, al: number, bh: number, bl: number): number {
  return (mulHi32(al, bl) + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
}
