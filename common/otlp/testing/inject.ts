// Test-only: re-frames a reference-encoded message, inserting fields the schema does not define
// (every wire type, groups included) before, between and after the real fields at every nesting
// level. Message-typed fields are found through protobufjs reflection, so this does not rely on
// the code under test to know the schema.
import protobuf from 'protobufjs';

export type Rng = () => number;

/** Deterministic PRNG (mulberry32) so a fast-check seed reproduces a failing injection. */
export function rngFrom(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pushVarint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

function unknownFieldNumber(type: protobuf.Type, rng: Rng): number {
  for (;;) {
    const n = rng() < 0.1 ? 536870911 - Math.floor(rng() * 3) : 17 + Math.floor(rng() * 300);
    if (type.fieldsById[n] === undefined) return n;
  }
}

function pushUnknown(out: number[], type: protobuf.Type, rng: Rng): void {
  const field = unknownFieldNumber(type, rng);
  const kind = Math.floor(rng() * 5);
  switch (kind) {
    case 0: {
      pushVarint(out, field * 8 + 0);
      const n = 1 + Math.floor(rng() * 10);
      for (let i = 0; i < n - 1; i++) out.push(0x80 | Math.floor(rng() * 128));
      out.push(n === 10 ? 1 : Math.floor(rng() * 128));
      return;
    }
    case 1:
      pushVarint(out, field * 8 + 1);
      for (let i = 0; i < 8; i++) out.push(Math.floor(rng() * 256));
      return;
    case 2: {
      pushVarint(out, field * 8 + 2);
      const n = Math.floor(rng() * 12);
      pushVarint(out, n);
      for (let i = 0; i < n; i++) out.push(Math.floor(rng() * 256));
      return;
    }
    case 3:
      pushVarint(out, field * 8 + 5);
      for (let i = 0; i < 4; i++) out.push(Math.floor(rng() * 256));
      return;
    default:
      // A group holding a varint and a nested empty group.
      pushVarint(out, field * 8 + 3);
      pushVarint(out, 1 * 8 + 0);
      out.push(42);
      pushVarint(out, 2 * 8 + 3);
      pushVarint(out, 2 * 8 + 4);
      pushVarint(out, field * 8 + 4);
  }
}

export function injectUnknownFields(buf: Uint8Array, type: protobuf.Type, rng: Rng, rate = 0.25): Uint8Array {
  const out: number[] = [];
  let pos = 0;
  const readVarint = (): number => {
    let v = 0;
    let mul = 1;
    let b: number;
    do {
      b = buf[pos++]!;
      v += (b & 0x7f) * mul;
      mul *= 128;
    } while (b >= 0x80);
    return v;
  };
  while (pos < buf.length) {
    if (rng() < rate) pushUnknown(out, type, rng);
    const tagStart = pos;
    const tag = readVarint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 2) {
      const len = readVarint();
      const payload = buf.subarray(pos, pos + len);
      pos += len;
      const resolved = type.fieldsById[field]?.resolvedType;
      if (resolved instanceof protobuf.Type) {
        const inner = injectUnknownFields(payload, resolved, rng, rate);
        pushVarint(out, tag);
        pushVarint(out, inner.length);
        for (const b of inner) out.push(b);
        continue;
      }
    } else if (wire === 0) {
      readVarint();
    } else if (wire === 1) {
      pos += 8;
    } else if (wire === 5) {
      pos += 4;
    } else {
      throw new Error(`reference encoder wrote wire type ${wire}`);
    }
    for (let i = tagStart; i < pos; i++) out.push(buf[i]!);
  }
  if (rng() < rate) pushUnknown(out, type, rng);
  return Uint8Array.from(out);
}
