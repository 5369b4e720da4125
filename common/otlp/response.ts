// ExportTraceServiceResponse: { ExportTracePartialSuccess partial_success = 1 } with
// ExportTracePartialSuccess { int64 rejected_spans = 1; string error_message = 2 }. OTLP says a
// fully successful export answers the empty message, so nothing is written unless something was
// rejected or there is a message (a non-empty message with 0 rejected is a warning).
import { Writer } from './encode.js';
import { Cursor, WireType } from './wire.js';

export interface ExportResult {
  readonly rejectedSpans: number;
  readonly errorMessage: string;
}

export function encodeExportResponse(r: ExportResult): Uint8Array {
  if (r.rejectedSpans === 0 && r.errorMessage.length === 0) return new Uint8Array(0);
  const w = new Writer(64 + r.errorMessage.length * 3);
  w.tag(1, WireType.LEN);
  const at = w.begin();
  if (r.rejectedSpans !== 0) {
    w.tag(1, WireType.VARINT);
    w.int64(BigInt(Math.trunc(r.rejectedSpans)));
  }
  if (r.errorMessage.length > 0) {
    w.tag(2, WireType.LEN);
    w.lenString(r.errorMessage);
  }
  w.end(at);
  return w.finish();
}

/** Throws SkeinError('BAD_PAYLOAD') on malformed bytes. rejectedSpans is exact up to 2^53. */
export function decodeExportResponse(bytes: Uint8Array): ExportResult {
  const cur = new Cursor(bytes);
  let rejectedSpans = 0;
  let errorMessage = '';
  while (cur.pos < cur.end) {
    const tag = cur.tag('ExportTraceServiceResponse');
    if (tag >>> 3 !== 1) {
      cur.skip(tag, 'ExportTraceServiceResponse');
      continue;
    }
    cur.expect(tag, WireType.LEN, 'ExportTraceServiceResponse');
    const outer = cur.enter('ExportTraceServiceResponse');
    const what = 'ExportTracePartialSuccess';
    while (cur.pos < cur.end) {
      const t = cur.tag(what);
      if (t >>> 3 === 1) {
        cur.expect(t, WireType.VARINT, what);
        rejectedSpans = Number(cur.int64(what));
      } else if (t >>> 3 === 2) {
        cur.expect(t, WireType.LEN, what);
        errorMessage = cur.string(what);
      } else {
        cur.skip(t, what);
      }
    }
    cur.leave(outer);
  }
  return { rejectedSpans, errorMessage };
}
