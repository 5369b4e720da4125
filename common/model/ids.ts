// Trace/span ID helpers. IDs are raw bytes; their text form is lowercase hex (OTLP JSON, Tempo,
// Jaeger). Jaeger and Tempo clients sometimes send shorter hex IDs (64-bit trace IDs, dropped
// leading zeros): parseTraceIdHex left-pads to 16 bytes.

export const TRACE_ID_BYTES = 16;
export const SPAN_ID_BYTES = 8;

const HEX = '0123456789abcdef';

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    out += HEX[b >>> 4]! + HEX[b & 15]!;
  }
  return out;
}

/** Parses exactly `byteLength` bytes of hex; returns undefined for bad characters or lengths. */
export function fromHex(hex: string, byteLength: number): Uint8Array | undefined {
  if (hex.length !== byteLength * 2 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined;
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/** Accepts 1–32 hex characters, left-pads to a 16-byte trace ID; rejects all-zero IDs. */
export function parseTraceIdHex(hex: string): Uint8Array | undefined {
  if (hex.length === 0 || hex.length > 32 || !/^[0-9a-fA-F]+$/.test(hex)) return undefined;
  const id = fromHex(hex.padStart(32, '0'), TRACE_ID_BYTES);
  if (id === undefined || isAllZero(id)) return undefined;
  return id;
}

export function isAllZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
