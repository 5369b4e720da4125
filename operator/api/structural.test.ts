import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { NonStructuralSchemaError, toStructural, withCel, type JsonSchemaProps } from './index.js';

const convert = (schema: z.ZodType): JsonSchemaProps => toStructural(z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'throw' }) as JsonSchemaProps);

describe('toStructural', () => {
  it('turns an int-or-string union into the controller-gen form, lifting the branch checks', () => {
    const schema = z.object({ size: z.union([z.number().int(), z.string().max(8).regex(/^[0-9]+Gi$/)]).default('1Gi') });
    expect(convert(schema)).toEqual({
      type: 'object',
      properties: { size: { anyOf: [{ type: 'integer' }, { type: 'string' }], 'x-kubernetes-int-or-string': true, default: '1Gi', maxLength: 8, pattern: '^[0-9]+Gi$' } },
    });
  });

  it("drops zod's safe-integer bounds, strict objects' additionalProperties: false and date-time regexes", () => {
    const schema = z.strictObject({ n: z.number().int(), at: z.iso.datetime(), path: z.string().regex(/^a\/b$/) });
    expect(convert(schema)).toEqual({
      type: 'object',
      properties: { n: { type: 'integer' }, at: { type: 'string', format: 'date-time' }, path: { type: 'string', pattern: '^a/b$' } },
      required: ['n', 'at', 'path'],
    });
  });

  it('keeps CEL rules, list types and descriptions, in a fixed key order', () => {
    const schema = withCel(z.object({ a: z.number().int().optional(), b: z.number().int().optional() }).describe('two'), [{ rule: 'has(self.a) != has(self.b)', message: 'one of a or b', holds: (v) => (v.a === undefined) !== (v.b === undefined) }]);
    const out = convert(schema);
    expect(Object.keys(out)).toEqual(['description', 'type', 'properties', 'x-kubernetes-validations']);
    expect(out['x-kubernetes-validations']).toEqual([{ rule: 'has(self.a) != has(self.b)', message: 'one of a or b' }]);
    expect(schema.safeParse({ a: 1, b: 2 }).error?.issues.map((i) => i.message)).toEqual(['one of a or b']);
  });

  it.each([
    ['a union of objects', z.object({ u: z.union([z.object({ a: z.string() }), z.object({ b: z.string() })]) }), /\.u: anyOf is only allowed for int-or-string/],
    ['a union of strings and booleans', z.object({ u: z.union([z.string(), z.boolean()]) }), /anyOf is only allowed/],
    ['an untyped value', z.object({ x: z.unknown() }), /\.x: every node needs a type/],
    ['an intersection zod cannot flatten', z.object({ x: z.intersection(z.string().min(1), z.string().max(3)) }), /\.x: allOf is not supported/],
    ['a tuple', z.object({ t: z.tuple([z.string(), z.number()]) }), /\.t/],
    ['a loose object', z.object({ o: z.looseObject({ a: z.string() }) }), /\.o: properties and additionalProperties are mutually exclusive/],
  ])('refuses %s, naming the path', (_, schema, message) => {
    expect(() => convert(schema)).toThrow(NonStructuralSchemaError);
    expect(() => convert(schema)).toThrow(message);
  });
});
