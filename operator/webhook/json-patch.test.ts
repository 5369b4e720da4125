import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyJsonPatch, computeJsonPatch, type JsonPatchOperation } from './index.js';

describe('computeJsonPatch', () => {
  it.each<{ name: string; before: unknown; after: unknown; patch: JsonPatchOperation[] }>([
    { name: 'equal documents', before: { a: [1, { b: 2 }] }, after: { a: [1, { b: 2 }] }, patch: [] },
    { name: 'added member', before: { a: 1 }, after: { a: 1, b: 2 }, patch: [{ op: 'add', path: '/b', value: 2 }] },
    { name: 'removed member', before: { a: 1, b: 2 }, after: { a: 1 }, patch: [{ op: 'remove', path: '/b' }] },
    { name: 'replaced scalar', before: { a: 1 }, after: { a: '1' }, patch: [{ op: 'replace', path: '/a', value: '1' }] },
    {
      name: 'annotation keys are escaped (~1 for /, ~0 for ~)',
      before: { metadata: { annotations: {} } },
      after: { metadata: { annotations: { 'tracing.skein.dev/injected': 'a/b', 'x~y': 'z' } } },
      patch: [
        { op: 'add', path: '/metadata/annotations/tracing.skein.dev~1injected', value: 'a/b' },
        { op: 'add', path: '/metadata/annotations/x~0y', value: 'z' },
      ],
    },
    { name: 'equal-length arrays element-wise', before: { c: [{ n: 'a' }, { n: 'b' }] }, after: { c: [{ n: 'a' }, { n: 'B' }] }, patch: [{ op: 'replace', path: '/c/1/n', value: 'B' }] },
    { name: 'longer array replaced whole', before: { c: [1] }, after: { c: [1, 2] }, patch: [{ op: 'replace', path: '/c', value: [1, 2] }] },
    { name: 'object to array', before: { c: {} }, after: { c: [] }, patch: [{ op: 'replace', path: '/c', value: [] }] },
    { name: 'root replaced', before: 1, after: { a: 1 }, patch: [{ op: 'replace', path: '', value: { a: 1 } }] },
    { name: 'undefined members count as absent', before: { a: 1, u: undefined }, after: { a: 1 }, patch: [] },
    { name: 'empty key', before: {}, after: { '': 1 }, patch: [{ op: 'add', path: '/', value: 1 }] },
  ])('$name', ({ before, after, patch }) => {
    expect(computeJsonPatch(before, after)).toEqual(patch);
  });
});

describe('applyJsonPatch', () => {
  it.each<{ name: string; doc: unknown; patch: JsonPatchOperation[]; expected: unknown }>([
    { name: 'array insert', doc: { a: [1, 3] }, patch: [{ op: 'add', path: '/a/1', value: 2 }], expected: { a: [1, 2, 3] } },
    { name: 'array append with -', doc: { a: [1] }, patch: [{ op: 'add', path: '/a/-', value: 2 }], expected: { a: [1, 2] } },
    { name: 'array remove', doc: { a: [1, 2] }, patch: [{ op: 'remove', path: '/a/0' }], expected: { a: [2] } },
    { name: '__proto__ stays data', doc: {}, patch: [{ op: 'add', path: '/__proto__', value: { x: 1 } }], expected: JSON.parse('{"__proto__":{"x":1}}') },
  ])('$name', ({ doc, patch, expected }) => {
    expect(applyJsonPatch(doc, patch)).toEqual(expected);
  });

  it.each<{ name: string; doc: unknown; patch: JsonPatchOperation[] }>([
    { name: 'missing parent', doc: {}, patch: [{ op: 'add', path: '/a/b', value: 1 }] },
    { name: 'remove of an absent member', doc: {}, patch: [{ op: 'remove', path: '/a' }] },
    { name: 'index past the end', doc: { a: [] }, patch: [{ op: 'replace', path: '/a/0', value: 1 }] },
    { name: 'leading zero index', doc: { a: [1, 2] }, patch: [{ op: 'replace', path: '/a/01', value: 1 }] },
    { name: 'pointer without /', doc: {}, patch: [{ op: 'add', path: 'a', value: 1 }] },
  ])('rejects $name', ({ doc, patch }) => {
    expect(() => applyJsonPatch(doc, patch)).toThrow();
  });

  it('does not modify its input', () => {
    const doc = { a: [1], b: { c: 1 } };
    applyJsonPatch(doc, [{ op: 'add', path: '/b/d', value: 2 }, { op: 'replace', path: '/a/0', value: 9 }]);
    expect(doc).toEqual({ a: [1], b: { c: 1 } });
  });
});

describe('computeJsonPatch then applyJsonPatch', () => {
  // Few, awkward keys so that random documents overlap and the diff recurses instead of replacing.
  const key = fc.constantFrom('a', 'b', 'c/d', '~', '~1', '', '__proto__');
  const json = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.constantFrom(null, true, false, 0, 1, 'x', ''),
      fc.array(tie('value'), { maxLength: 3 }),
      fc.dictionary(key, tie('value'), { maxKeys: 4 }),
    ),
  })).value;

  it('turns before into after exactly (overlapping documents)', () => {
    fc.assert(
      fc.property(json, json, (before, after) => {
        expect(applyJsonPatch(before, computeJsonPatch(before, after))).toEqual(after);
      }),
      { numRuns: 2000 },
    );
  });

  it('turns before into after exactly (arbitrary JSON)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (before, after) => {
        expect(applyJsonPatch(before, computeJsonPatch(before, after))).toEqual(after);
      }),
      { numRuns: 500 },
    );
  });

  it('is empty for equal documents', () => {
    fc.assert(
      fc.property(json, (doc) => {
        expect(computeJsonPatch(doc, structuredClone(doc))).toEqual([]);
      }),
    );
  });
});
