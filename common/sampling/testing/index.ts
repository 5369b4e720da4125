// Test helpers for trace-ID ratio sampling (imported by tests only).

/** A trace ID whose 56 randomness bits (bytes 9..15) read `r`; the other bytes are `fill`. */
export function traceIdWithRandomness(r: bigint, fill = 0xab): Uint8Array {
  const id = new Uint8Array(16).fill(fill);
  for (let i = 15; i >= 9; i--) {
    id[i] = Number(r & 0xffn);
    r >>= 8n;
  }
  return id;
}
