// Read-only protobuf walking for the scrubber's first pass, which must look inside span events,
// links and array values without decoding spans that turn out to be clean. common/otlp's
// forEachAttribute visits KeyValues of one message; this adds the two pieces it does not cover:
// the fields of any message (to reach events and links) and one AnyValue (to read array items).
// Malformed bytes throw SkeinError('BAD_PAYLOAD'); edge validation normally rules them out.
import { SkeinError } from '../common/errors/index.js';
import { AnyValueType } from '../common/otlp/index.js';

const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const START_GROUP = 3;
const END_GROUP = 4;
const FIXED32 = 5;

/** Payload of one field: varint bytes, fixed bytes, or a length-delimited payload. */
export type FieldVisitor = (field: number, wireType: number, start: number, end: number) => void | boolean;

function malformed(what: string, at: number): SkeinError {
  return new SkeinError('BAD_PAYLOAD', `malformed protobuf: ${what} at byte ${at}`);
}

/** Position after the varint at `pos`, whose value is written to `out[0]`; throws if truncated. */
function varint(buf: Uint8Array, pos: number, end: number, out: number[]): number {
  const at = pos;
  let value = 0;
  let scale = 1;
  for (;;) {
    if (pos >= end || pos - at >= 10) throw malformed('truncated or oversized varint', at);
    const b = buf[pos++]!;
    value += (b & 0x7f) * scale;
    scale *= 128;
    if (b < 0x80) break;
  }
  out[0] = value;
  return pos;
}

/** Position after the payload of a field with `wire` whose tag ended at `pos`. */
function skip(buf: Uint8Array, pos: number, end: number, wire: number, field: number, scratch: number[]): number {
  switch (wire) {
    case VARINT:
      return varint(buf, pos, end, scratch);
    case FIXED64:
      if (pos + 8 > end) throw malformed('truncated fixed64', pos);
      return pos + 8;
    case FIXED32:
      if (pos + 4 > end) throw malformed('truncated fixed32', pos);
      return pos + 4;
    case LEN: {
      const start = varint(buf, pos, end, scratch);
      if (start + scratch[0]! > end) throw malformed('length past the end', pos);
      return start + scratch[0]!;
    }
    case START_GROUP:
      // Deprecated groups appear only as unknown fields; skip to the matching end tag.
      for (;;) {
        const tagAt = pos;
        pos = varint(buf, pos, end, scratch);
        const tag = scratch[0]!;
        const inner = tag % 8;
        if (inner === END_GROUP) {
          if (Math.floor(tag / 8) !== field) throw malformed('mismatched end of group', tagAt);
          return pos;
        }
        pos = skip(buf, pos, end, inner, Math.floor(tag / 8), scratch);
      }
    default:
      throw malformed(`wire type ${wire}`, pos);
  }
}

/** Visits every field of the message in buf[start, end); returning false from `visit` stops. */
// Shared by every walk, nested ones too: each read of it follows the varint that wrote it, before
// any visitor runs.
const scratch = [0];

export function forEachField(buf: Uint8Array, start: number, end: number, visit: FieldVisitor): void {
  let pos = start;
  while (pos < end) {
    // Fast path: a one-byte tag of a LEN field with a one-byte length, or of a varint field.
    const t = buf[pos]!;
    if (t < 0x80 && t >= 8) {
      const wire = t & 7;
      if (wire === LEN && pos + 1 < end && buf[pos + 1]! < 0x80) {
        const payload = pos + 2;
        const next = payload + buf[pos + 1]!;
        if (next > end) throw malformed('length past the end', pos + 1);
        pos = next;
        if (visit(t >>> 3, LEN, payload, next) === false) return;
        continue;
      }
      if (wire === VARINT) {
        const payload = pos + 1;
        const next = varint(buf, payload, end, scratch);
        pos = next;
        if (visit(t >>> 3, VARINT, payload, next) === false) return;
        continue;
      }
    }
    const tagAt = pos;
    pos = varint(buf, pos, end, scratch);
    const tag = scratch[0]!;
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 0) throw malformed('field number 0', tagAt);
    if (wire === END_GROUP) throw malformed('unexpected end of group', tagAt);
    let payload = pos;
    const next = skip(buf, pos, end, wire, field, scratch);
    if (wire === LEN) payload = next - scratch[0]!;
    pos = next;
    if (wire !== START_GROUP && visit(field, wire, payload, next) === false) return;
  }
}

export interface AnyValueView {
  type: AnyValueType;
  offset: number;
  length: number;
}

/** The AnyValue encoded in buf[start, end), as forEachAttribute reports values (last oneof wins). */
export function readAnyValue(buf: Uint8Array, start: number, end: number): AnyValueView {
  const view: AnyValueView = { type: AnyValueType.EMPTY, offset: end, length: 0 };
  forEachField(buf, start, end, (field, wire, s, e) => {
    if (field < 1 || field > 7) return;
    const expected = field === 2 || field === 3 ? VARINT : field === 4 ? FIXED64 : LEN;
    if (wire !== expected) throw malformed(`AnyValue field ${field} with wire type ${wire}`, s);
    view.type = field as AnyValueType;
    view.offset = s;
    view.length = e - s;
  });
  return view;
}

export const WireTypes = { VARINT, FIXED64, LEN, FIXED32 } as const;
