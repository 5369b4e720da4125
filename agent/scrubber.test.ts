import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeResource, decodeScope, decodeSpan, encodeScope, encodeSpan } from '../common/otlp/index.js';
import type { AnyValue, KeyValue, SpanGroup } from '../common/model/index.js';
import { REDACTED, createScrubber, mayMatch, precheckBit, type ScrubCount } from './scrubber.js';
import { BUILTIN_SCRUB_RULES, ScrubConfigSchema, isCardNumber, luhnValid, type ScrubConfigInput } from './scrub-config.js';
import { groupOf, kv, makeSpan, str } from './testing/spans.js';

const HASH_KEY = 'test-hash-key-0123456789';
const hmac = (value: string, key = HASH_KEY): string => 'hash:' + createHmac('sha256', key).update(value).digest('hex').slice(0, 32);
const int = (value: number): AnyValue => ({ kind: 'int', value: BigInt(value) });
const dbl = (value: number): AnyValue => ({ kind: 'double', value });
const arr = (...value: AnyValue[]): AnyValue => ({ kind: 'array', value });
const kvl = (...value: KeyValue[]): AnyValue => ({ kind: 'kvlist', value });
const bytes = (...b: number[]): AnyValue => ({ kind: 'bytes', value: Uint8Array.from(b) });

function scrubber(input: ScrubConfigInput = {}) {
  return createScrubber(ScrubConfigSchema.parse(input));
}

/** Scrubs one span carrying `attributes`; returns its attributes afterwards and the counts. */
function scrubAttributes(input: ScrubConfigInput, attributes: KeyValue[]): { attributes: readonly KeyValue[]; dropped: number; counts: Record<string, number> } {
  const result = scrubber(input).scrub([groupOf('svc', [makeSpan({ attributes })])]);
  const span = decodeSpan(result.groups[0]!.spans[0]!);
  const counts: Record<string, number> = {};
  for (const c of result.counts) counts[`${c.rule}/${c.action}`] = c.values;
  return { attributes: span.attributes, dropped: span.droppedAttributesCount, counts };
}

describe('built-in rules', () => {
  const bearer = 'Bearer eyJhbGciOiJIUzI1NiJ9abcdefgh';
  const cases: [string, KeyValue[], KeyValue[], Record<string, number>][] = [
    [
      'authorization request header (string[] per semconv)',
      [kv('http.request.header.authorization', arr(str(bearer)))],
      [kv('http.request.header.authorization', arr(str(REDACTED)))],
      { 'http-credential-header/redact': 1 },
    ],
    ['cookie header', [kv('http.request.header.cookie', 'sid=abc')], [kv('http.request.header.cookie', REDACTED)], { 'http-credential-header/redact': 1 }],
    ['set-cookie response header, any case', [kv('HTTP.Response.Header.Set-Cookie', 'sid=abc')], [kv('HTTP.Response.Header.Set-Cookie', REDACTED)], { 'http-credential-header/redact': 1 }],
    [
      'proxy-authorization header',
      [kv('http.request.header.proxy-authorization', arr(str('a'), str('b')))],
      [kv('http.request.header.proxy-authorization', arr(str(REDACTED), str(REDACTED)))],
      { 'http-credential-header/redact': 2 },
    ],
    ['other headers are kept', [kv('http.request.header.accept', 'text/html')], [kv('http.request.header.accept', 'text/html')], {}],
    ['password key', [kv('user.password', 'hunter2')], [kv('user.password', REDACTED)], { 'secret-key/redact': 1 }],
    ['passwd key', [kv('db.passwd', 'x')], [kv('db.passwd', REDACTED)], { 'secret-key/redact': 1 }],
    ['API key, any spelling and case', [kv('x.API-Key', 'k'), kv('api_key', 'k'), kv('apikey', 'k')], [kv('x.API-Key', REDACTED), kv('api_key', REDACTED), kv('apikey', REDACTED)], { 'secret-key/redact': 3 }],
    ['private key', [kv('tls.private_key', 'k')], [kv('tls.private_key', REDACTED)], { 'secret-key/redact': 1 }],
    ['token key', [kv('oauth.refresh_token', 't')], [kv('oauth.refresh_token', REDACTED)], { 'secret-key/redact': 1 }],
    ['secret key with bytes value', [kv('client_secret', bytes(1, 2, 3))], [kv('client_secret', REDACTED)], { 'secret-key/redact': 1 }],
    ['token counts (int) are kept', [kv('gen_ai.usage.input_tokens', int(42))], [kv('gen_ai.usage.input_tokens', int(42))], {}],
    ['secret-named double and bool are kept', [kv('password.length', dbl(8)), kv('token.valid', { kind: 'bool', value: true })], [kv('password.length', dbl(8)), kv('token.valid', { kind: 'bool', value: true })], {}],
    ['empty value under a secret key is kept', [kv('password', { kind: 'empty' })], [kv('password', { kind: 'empty' })], {}],
    ['already redacted values are not counted again', [kv('password', REDACTED)], [kv('password', REDACTED)], {}],
    [
      'secret key mixing numbers and strings in an array',
      [kv('tokens', arr(int(1), str('t')))],
      [kv('tokens', arr(int(1), str(REDACTED)))],
      { 'secret-key/redact': 1 },
    ],
    ['bearer token inside a value', [kv('note', `sent ${bearer} ok`)], [kv('note', `sent ${REDACTED} ok`)], { 'bearer-token/redact': 1 }],
    ['short "bearer" words are kept', [kv('note', 'the bearer of bad news')], [kv('note', 'the bearer of bad news')], {}],
    ['basic credentials (user:pass)', [kv('note', 'Authorization: Basic dXNlcjpwYXNz')], [kv('note', `Authorization: ${REDACTED}`)], { 'basic-credentials/redact': 1 }],
    ['"Basic" prose is kept', [kv('note', 'Basic authentication required')], [kv('note', 'Basic authentication required')], {}],
    [
      'JWT',
      [kv('note', 'id=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U')],
      [kv('note', `id=${REDACTED}`)],
      { 'jwt/redact': 1 },
    ],
    ['AWS access key ID', [kv('note', 'key AKIAIOSFODNN7EXAMPLE used')], [kv('note', `key ${REDACTED} used`)], { 'aws-access-key-id/redact': 1 }],
    ['password in a URL', [kv('url.full', 'https://alice:hunter2@example.com/x?y=1')], [kv('url.full', `https://alice:${REDACTED}@example.com/x?y=1`)], { 'url-password/redact': 1 }],
    ['URL without password is kept', [kv('url.full', 'https://alice@example.com/x')], [kv('url.full', 'https://alice@example.com/x')], {}],
    [
      'PEM private key',
      [kv('config', 'k=-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----;')],
      [kv('config', `k=${REDACTED};`)],
      { 'private-key-pem/redact': 1 },
    ],
    ['Visa number with spaces', [kv('msg', 'paid with 4111 1111 1111 1111 today')], [kv('msg', `paid with ${REDACTED} today`)], { 'credit-card/redact': 1 }],
    ['Mastercard with dashes', [kv('msg', '5500-0000-0000-0004')], [kv('msg', REDACTED)], { 'credit-card/redact': 1 }],
    ['Amex, two in one value', [kv('msg', '378282246310005,371449635398431')], [kv('msg', `${REDACTED},${REDACTED}`)], { 'credit-card/redact': 1 }],
    ['card failing Luhn is kept', [kv('msg', '4111 1111 1111 1112')], [kv('msg', '4111 1111 1111 1112')], {}],
    ['nanosecond timestamp is kept (Luhn-valid, no issuer prefix)', [kv('msg', '1700000000000000007')], [kv('msg', '1700000000000000007')], {}],
    ['longer digit runs are kept', [kv('msg', '41111111111111111111111')], [kv('msg', '41111111111111111111111')], {}],
    ['card digits in a decimal are kept', [kv('msg', '0.4111111111111111')], [kv('msg', '0.4111111111111111')], {}],
    ['card-like int values are kept (value rules read strings)', [kv('amount', int(4111111111111111))], [kv('amount', int(4111111111111111))], {}],
    [
      'nested: kvlist keys are keys, array items are values',
      [kv('request', kvl(kv('user', kvl(kv('password', 'x'), kv('name', 'bob'))), kv('cards', arr(str('none'), str('4111111111111111')))))],
      [kv('request', kvl(kv('user', kvl(kv('password', REDACTED), kv('name', 'bob'))), kv('cards', arr(str('none'), str(REDACTED)))))],
      { 'secret-key/redact': 1, 'credit-card/redact': 1 },
    ],
    [
      'a secret key redacts every string leaf of a kvlist value',
      [kv('secrets', kvl(kv('a', 'x'), kv('n', int(1)), kv('b', arr(str('y')))))],
      [kv('secrets', kvl(kv('a', REDACTED), kv('n', int(1)), kv('b', arr(str(REDACTED)))))],
      { 'secret-key/redact': 2 },
    ],
  ];
  it.each(cases)('%s', (_name, input, expected, counts) => {
    const result = scrubAttributes({}, input);
    expect(result.attributes).toEqual(expected);
    expect(result.counts).toEqual(counts);
  });

  it('every built-in redacts (no key is needed to run them)', () => {
    expect(BUILTIN_SCRUB_RULES.every((r) => r.action === 'redact')).toBe(true);
  });
});

describe('configured rules', () => {
  const cases: [string, ScrubConfigInput, KeyValue[], KeyValue[], Record<string, number>, number][] = [
    ['key rule redacts any type', { rules: [{ name: 'uid', key: '^user\\.id$', action: 'redact' }] }, [kv('user.id', int(42))], [kv('user.id', REDACTED)], { 'uid/redact': 1 }, 0],
    [
      'key rule hashes (HMAC-SHA256, keyed, truncated hex)',
      { hashKey: HASH_KEY, rules: [{ name: 'email', key: '^user\\.email$', action: 'hash' }] },
      [kv('user.email', 'a@example.com'), kv('user.email.other', 'a@example.com')],
      [kv('user.email', hmac('a@example.com')), kv('user.email.other', 'a@example.com')],
      { 'email/hash': 1 },
      0,
    ],
    ['hashing ints uses their decimal text', { hashKey: HASH_KEY, rules: [{ name: 'n', key: '^n$', action: 'hash' }] }, [kv('n', int(-7))], [kv('n', hmac('-7'))], { 'n/hash': 1 }, 0],
    [
      'key rule drops and counts the attribute as dropped',
      { rules: [{ name: 'pii', key: '^enduser\\.', action: 'drop' }] },
      [kv('a', '1'), kv('enduser.id', 'bob'), kv('enduser.role', int(1)), kv('b', '2')],
      [kv('a', '1'), kv('b', '2')],
      { 'pii/drop': 2 },
      2,
    ],
    [
      'value rule scoped to a key',
      { rules: [{ name: 'session', key: '^url\\.full$', value: 'session=[^&]+', action: 'redact' }] },
      [kv('url.full', '/x?session=abc&y=1'), kv('other', '/x?session=abc')],
      [kv('url.full', `/x?${REDACTED}&y=1`), kv('other', '/x?session=abc')],
      { 'session/redact': 1 },
      0,
    ],
    [
      'value rule hashes each match',
      { hashKey: HASH_KEY, rules: [{ name: 'ssn', value: '\\b\\d{3}-\\d{2}-\\d{4}\\b', action: 'hash' }] },
      [kv('msg', 'ssn 123-45-6789 and 987-65-4321')],
      [kv('msg', `ssn ${hmac('123-45-6789')} and ${hmac('987-65-4321')}`)],
      { 'ssn/hash': 1 },
      0,
    ],
    [
      'value rule drop removes the nearest attribute: top level for arrays, the entry inside kvlists',
      { rules: [{ name: 'x', value: 'DROPME', action: 'drop' }] },
      [kv('list', arr(str('ok'), str('DROPME'))), kv('map', kvl(kv('keep', 'ok'), kv('bad', 'xDROPMEx'))), kv('fine', 'ok')],
      [kv('map', kvl(kv('keep', 'ok'))), kv('fine', 'ok')],
      { 'x/drop': 2 },
      1,
    ],
    ['ignoreCase', { rules: [{ name: 'k', key: '^internal\\.', ignoreCase: true, action: 'redact' }] }, [kv('INTERNAL.x', 'v')], [kv('INTERNAL.x', REDACTED)], { 'k/redact': 1 }, 0],
    ['case-sensitive by default', { rules: [{ name: 'k', key: '^internal\\.', action: 'redact' }] }, [kv('INTERNAL.x', 'v')], [kv('INTERNAL.x', 'v')], {}, 0],
    [
      'configured whole-value rules win over built-ins',
      { hashKey: HASH_KEY, rules: [{ name: 'tok', key: '^auth\\.token$', action: 'hash' }] },
      [kv('auth.token', 't1'), kv('other.token', 't2')],
      [kv('auth.token', hmac('t1')), kv('other.token', REDACTED)],
      { 'tok/hash': 1, 'secret-key/redact': 1 },
      0,
    ],
    [
      'a whole-value rule on a key skips value rules for it',
      { rules: [{ name: 'w', key: '^msg$', action: 'redact' }, { name: 'v', value: 'x', action: 'drop' }] },
      [kv('msg', 'x')],
      [kv('msg', REDACTED)],
      { 'w/redact': 1 },
      0,
    ],
    ['value rules apply in order (redact first)', { rules: [{ name: 'a', value: 'foo', action: 'redact' }, { name: 'b', value: 'foo', action: 'drop' }] }, [kv('m', 'a foo')], [kv('m', `a ${REDACTED}`)], { 'a/redact': 1 }, 0],
    ['value rules apply in order (drop first)', { rules: [{ name: 'b', value: 'foo', action: 'drop' }, { name: 'a', value: 'foo', action: 'redact' }] }, [kv('m', 'a foo')], [], { 'b/drop': 1 }, 1],
    ['patterns matching the empty string change nothing', { rules: [{ name: 'e', value: 'z*', action: 'redact' }] }, [kv('m', 'abc')], [kv('m', 'abc')], {}, 0],
    ['disable one built-in', { disableBuiltins: ['credit-card'] }, [kv('m', '4111111111111111'), kv('password', 'p')], [kv('m', '4111111111111111'), kv('password', REDACTED)], { 'secret-key/redact': 1 }, 0],
    ['disable all built-ins', { disableBuiltins: ['*'] }, [kv('password', 'p')], [kv('password', 'p')], {}, 0],
  ];
  it.each(cases)('%s', (_name, config, input, expected, counts, dropped) => {
    const result = scrubAttributes(config, input);
    expect(result.attributes).toEqual(expected);
    expect(result.counts).toEqual(counts);
    expect(result.dropped).toBe(dropped);
  });

  it('hashes equal values equally under one key and differently under another', () => {
    const hashed = (hashKey: string) => scrubAttributes({ hashKey, rules: [{ name: 'h', key: '^h$', action: 'hash' }] }, [kv('h', 'same')]).attributes[0]!.value;
    expect(hashed(HASH_KEY)).toEqual(hashed(HASH_KEY));
    expect(hashed(HASH_KEY)).not.toEqual(hashed('another-key-0123456789'));
    expect(hashed(HASH_KEY)).toMatchObject({ kind: 'string', value: expect.stringMatching(/^hash:[0-9a-f]{32}$/) });
  });

  const invalid: [string, unknown][] = [
    ['hash without hashKey', { rules: [{ name: 'h', key: 'x', action: 'hash' }] }],
    ['short hashKey', { hashKey: 'short', rules: [] }],
    ['rule without patterns', { rules: [{ name: 'n', action: 'redact' }] }],
    ['bad regex', { rules: [{ name: 'n', key: '(', action: 'redact' }] }],
    ['bad action', { rules: [{ name: 'n', key: 'x', action: 'mask' }] }],
    ['name unfit for a metric label', { rules: [{ name: 'Has Space', key: 'x', action: 'redact' }] }],
    ['duplicate name', { rules: [{ name: 'a', key: 'x', action: 'redact' }, { name: 'a', key: 'y', action: 'redact' }] }],
    ['name of a built-in', { rules: [{ name: 'jwt', key: 'x', action: 'redact' }] }],
    ['unknown built-in to disable', { disableBuiltins: ['nope'] }],
    ['unknown field', { rule: [] }],
  ];
  it.each(invalid)('config rejects %s', (_name, input) => {
    expect(ScrubConfigSchema.safeParse(input).success).toBe(false);
  });
});

describe('card number detection', () => {
  const cases: [string, boolean][] = [
    ['4111111111111111', true],
    ['4012888888881881', true],
    ['5555555555554444', true],
    ['2223003122003222', true], // Mastercard 2-series
    ['6011111111111117', true],
    ['3530111333300000', true],
    ['378282246310005', true],
    ['4111111111111112', false], // Luhn
    ['1234567812345670', false], // Luhn-valid, no issuer prefix
    ['7111111111111117', false],
    ['411111111111', false], // 12 digits
  ];
  it.each(cases)('%s → %s', (digits, expected) => {
    expect(isCardNumber(digits)).toBe(expected);
  });
  it('luhnValid', () => {
    expect([luhnValid('79927398713'), luhnValid('79927398710')]).toEqual([true, false]);
  });
});

describe('spans, events, links, resources and scopes', () => {
  const secretEvent = { timeUnixNano: 1n, name: 'exception', attributes: [kv('exception.message', 'card 4111111111111111 declined')], droppedAttributesCount: 0 };
  const secretLink = { traceId: new Uint8Array(16).fill(2), spanId: new Uint8Array(8).fill(3), traceState: '', attributes: [kv('peer.password', 'x')], droppedAttributesCount: 0, flags: 0 };

  it('scrubs event and link attributes', () => {
    const r = scrubber().scrub([groupOf('svc', [makeSpan({ events: [secretEvent], links: [secretLink] })])]);
    const span = decodeSpan(r.groups[0]!.spans[0]!);
    expect(span.events[0]!.attributes).toEqual([kv('exception.message', `card ${REDACTED} declined`)]);
    expect(span.links[0]!.attributes).toEqual([kv('peer.password', REDACTED)]);
    expect(r.changedSpans).toBe(1);
  });

  it('counts dropped event and link attributes on the event and link', () => {
    const r = scrubber({ rules: [{ name: 'd', key: '^(exception\\.message|peer\\.password)$', action: 'drop' }] }).scrub([
      groupOf('svc', [makeSpan({ events: [secretEvent], links: [secretLink] })]),
    ]);
    const span = decodeSpan(r.groups[0]!.spans[0]!);
    expect([span.events[0]!.attributes, span.events[0]!.droppedAttributesCount, span.links[0]!.attributes, span.links[0]!.droppedAttributesCount]).toEqual([[], 1, [], 1]);
  });

  it('scrubs resource and scope attributes once per shared resource', () => {
    const g = groupOf('svc', [makeSpan(), makeSpan()], [kv('db.password', 'p')]);
    const withScope: SpanGroup = { ...g, scope: encodeScope({ name: 'lib', version: '', attributes: [kv('api_key', 'k')], droppedAttributesCount: 0 }) };
    const r = scrubber().scrub([withScope, { ...withScope, spans: [encodeSpan(makeSpan())] }]);
    expect(decodeResource(r.groups[0]!.resource).attributes).toEqual([kv('service.name', 'svc'), kv('db.password', REDACTED)]);
    expect(decodeScope(r.groups[0]!.scope).attributes).toEqual([kv('api_key', REDACTED)]);
    expect(r.groups[1]!.resource).toBe(r.groups[0]!.resource);
    expect(r.groups[0]!.spans).toEqual(withScope.spans); // spans themselves were clean
    expect(r.changedSpans).toBe(0);
    expect(r.counts).toEqual<ScrubCount[]>([{ rule: 'secret-key', action: 'redact', values: 2 }]);
  });

  it('keeps clean spans byte-identical and clean groups as they are', () => {
    const clean = groupOf('svc', [makeSpan({ attributes: [kv('http.method', 'GET'), kv('n', int(4111111111111111))] })]);
    const dirty = groupOf('svc', [makeSpan(), makeSpan({ attributes: [kv('password', 'p')] })]);
    const r = scrubber().scrub([clean, dirty]);
    expect(r.groups[0]).toBe(clean);
    expect(r.groups[1]!.spans[0]).toBe(dirty.spans[0]);
    expect(r.groups[1]!.spans[1]).not.toBe(dirty.spans[1]);
    expect(r.changedSpans).toBe(1);
  });

  it('keeps original bytes when the cheap pass over-approximates (secret key over an array of ints)', () => {
    const g = groupOf('svc', [makeSpan({ attributes: [kv('tokens', arr(int(1), int(2)))] })]);
    const r = scrubber().scrub([g]);
    expect(r.groups[0]).toBe(g);
  });

  it('passes everything through when no rule is enabled', () => {
    const g = groupOf('svc', [makeSpan({ attributes: [kv('password', 'p')] })]);
    expect(scrubber({ disableBuiltins: ['*'] }).scrub([g]).groups[0]).toBe(g);
  });

  it('drops spans it cannot parse, and groups whose resource it cannot parse', () => {
    const good = encodeSpan(makeSpan());
    const g = groupOf('svc', []);
    const r = scrubber().scrub([
      { ...g, spans: [good, Uint8Array.of(0x4a, 0x05, 0x0a)] }, // field 9 (attribute) truncated
      { ...g, resource: Uint8Array.of(0x0a, 0x09), spans: [good, good] },
    ]);
    expect(r.groups).toHaveLength(1);
    expect(r.groups[0]!.spans).toEqual([good]);
    expect(r.malformedSpans).toBe(3);
  });
});

describe('properties', () => {
  const fragments = fc.constantFrom(
    'plain',
    '4111 1111 1111 1111',
    '1700000000000000000',
    'Bearer abcdefghijklmnopqrstuvwx',
    'Basic dXNlcjpwYXNz',
    'AKIAIOSFODNN7EXAMPLE',
    'https://u:p@h/',
    'eyJhbGciOi.eyJzdWIiOi.sig',
    ' ',
    '-',
    '[REDACTED]',
  );
  const text = fc.array(fragments, { maxLength: 4 }).map((parts) => parts.join(''));
  const keys = fc.constantFrom('msg', 'password', 'http.request.header.cookie', 'n', 'gen_ai.usage.output_tokens', 'nested');
  const value: fc.Arbitrary<AnyValue> = fc.letrec<{ v: AnyValue }>((tie) => ({
    v: fc.oneof(
      { maxDepth: 3, depthIdentifier: 'v' },
      text.map(str),
      fc.integer().map(int),
      fc.array(tie('v'), { maxLength: 3 }).map((items) => arr(...items)),
      fc.array(fc.tuple(keys, tie('v')), { maxLength: 3 }).map((entries) => kvl(...entries.map(([k, v]) => kv(k, v)))),
    ),
  })).v;
  const attributes = fc.uniqueArray(fc.tuple(keys, value), { maxLength: 5, selector: ([k]) => k }).map((entries) => entries.map(([k, v]) => kv(k, v)));

  const leaks = (v: AnyValue, key: string): boolean => {
    switch (v.kind) {
      case 'string':
        if (/password|token|cookie/.test(key)) return v.value !== REDACTED;
        return BUILTIN_SCRUB_RULES.some((r) => r.value !== undefined && [...v.value.matchAll(new RegExp(r.value.source, r.value.flags))].some((m) => m[0] !== REDACTED && (r.accept === undefined || r.accept(m[0]))));
      case 'array':
        return v.value.some((item) => leaks(item, key));
      case 'kvlist':
        return v.value.some((e) => leaks(e.value, e.key));
      default:
        return false;
    }
  };

  it('leaves no built-in match behind, and a second scrub changes nothing', () => {
    fc.assert(
      fc.property(attributes, (attrs) => {
        const s = scrubber();
        const once = s.scrub([groupOf('svc', [makeSpan({ attributes: attrs })])]);
        const span = decodeSpan(once.groups[0]!.spans[0]!);
        for (const a of span.attributes) expect(leaks(a.value, a.key)).toBe(false);
        const twice = s.scrub(once.groups);
        expect(twice.groups[0]).toBe(once.groups[0]);
        expect(twice.counts).toEqual([]);
      }),
      { seed: 3, numRuns: 300 },
    );
  });
});

describe('byte shortcuts of the first pass (pre-checks, key plans by bytes)', () => {
  const enc = new TextEncoder();
  const valueRules = BUILTIN_SCRUB_RULES.filter((r) => r.value !== undefined);

  /** What the slow path decides for one rule: the decoded text holds a match the rule acts on. */
  const slowMatches = (rule: (typeof valueRules)[number], text: string): boolean =>
    [...text.matchAll(new RegExp(rule.value!.source, rule.value!.flags))].some((m) => m[0].length > 0 && m[0] !== REDACTED && (rule.accept === undefined || rule.accept(m[0])));

  // Pieces near each built-in pattern's edges, and characters that case-fold or decode oddly.
  const adversarial = fc.constantFrom(
    'bearer',
    'Bearer ',
    'BEARER\u00a0',
    'bEaReR\t',
    'basic ',
    'BASIC ',
    'Basic\u2028',
    'baſic ',
    'bearer\u2029',
    'dXNlcjpwYXNz',
    'QWxhZGRpbjpvcGVuIHNlc2FtZQ==',
    'abcdefghijklmnop',
    'eyJ',
    'eyJhbGciOi',
    '.eyJ',
    '.',
    '-----BEGIN ',
    '-----BEGIN RSA PRIVATE KEY-----',
    'PRIVATE KEY-----',
    '-----END PRIVATE KEY-----',
    '----BEGIN ',
    'AKIA',
    'ASIA',
    'AKI',
    'IOSFODNN7EXAMPLE',
    'ABCDEFGHIJKLMNOP',
    '://',
    'https://',
    'h://',
    ':/',
    'u:p@',
    'user:',
    'p@ss',
    '@',
    ':',
    '/',
    '4111 1111 1111 1111',
    '4111-1111-1111-1111',
    '4111',
    '1111',
    '5555555555554444',
    '378282246310005',
    '1700000000000000000',
    '0',
    '9',
    ' ',
    '-',
    '--',
    '  ',
    '٣', // Arabic-Indic digit: \d without the u flag does not match it
    '\u212a', // Kelvin sign
    'ı',
    'İ',
    '\ufffd',
    '\ud800',
    'é',
    '[REDACTED]',
  );
  const adversarialText = fc.array(fc.oneof(adversarial, fc.string({ maxLength: 4 }), fc.stringMatching(/^[0-9 -]{0,20}$/)), { maxLength: 8 }).map((parts) => parts.join(''));
  // Raw bytes: UTF-8 of adversarial text with invalid sequences spliced in.
  const adversarialBytes = fc
    .array(fc.oneof(adversarialText.map((t) => enc.encode(t)), fc.uint8Array({ maxLength: 4 }), fc.constantFrom(Uint8Array.of(0xc3), Uint8Array.of(0xe2, 0x80), Uint8Array.of(0xff), Uint8Array.of(0xf0, 0x9f, 0x98))), { maxLength: 6 })
    .map((parts) => Uint8Array.from(parts.flatMap((p) => [...p])));

  it('every built-in value rule has a pre-check, and configured patterns have none', () => {
    for (const r of valueRules) expect(precheckBit(r.value!), r.name).not.toBe(0);
    expect(precheckBit(/bearer/gi)).toBe(0);
    // Same source with other flags is another regex: no pre-check.
    const card = valueRules.find((r) => r.name === 'credit-card')!;
    expect(precheckBit(new RegExp(card.value!.source, 'gu'))).toBe(0);
  });

  it('the shortest value each built-in matches passes its pre-check (length bounds)', () => {
    const shortest: Record<string, string> = {
      'url-password': 'a://:x@',
      'basic-credentials': 'basic abcd',
      'credit-card': '4111111111111',
      jwt: 'eyJabcd.eyJabcd.',
      'aws-access-key-id': 'AKIAABCDEFGHIJKLMNOP',
      'bearer-token': 'bearer abcdefghijklmnop',
      'private-key-pem': '-----BEGIN PRIVATE KEY-----',
    };
    for (const r of valueRules) {
      const text = shortest[r.name]!;
      r.value!.lastIndex = 0;
      expect(r.value!.test(text), r.name).toBe(true);
      const b = enc.encode(text);
      expect(mayMatch(b, 0, b.length, precheckBit(r.value!)), r.name).toBe(precheckBit(r.value!));
    }
  });

  it('a pre-check never rules out a value its rule matches (text and invalid UTF-8)', () => {
    const dec = new TextDecoder();
    fc.assert(
      fc.property(adversarialBytes, fc.nat(3), (bytes, pad) => {
        // Embed at an offset, as in a real buffer.
        const buf = new Uint8Array(bytes.length + 2 * pad).fill(0x34);
        buf.set(bytes, pad);
        const text = dec.decode(bytes);
        for (const r of valueRules) {
          const bit = precheckBit(r.value!);
          if (slowMatches(r, text)) expect(mayMatch(buf, pad, bytes.length, bit), `${r.name} on ${JSON.stringify(text)}`).toBe(bit);
        }
      }),
      { seed: 11, numRuns: 3000 },
    );
  });

  it('rules out plain values', () => {
    for (const t of ['GET', '/api/cart/{id}', 'SELECT * FROM cart_items WHERE cart_id = $1', 'cart.default.svc', '170000000000', '1234-5678 9012--3456', 'a:b@c']) {
      const b = enc.encode(t);
      expect(mayMatch(b, 0, b.length, (1 << 7) - 1), t).toBe(0);
    }
  });

  const keys = fc.constantFrom('msg', 'password', 'http.request.header.cookie', 'url.full', 'n', 'api_key', 'nested', 'k\u00e9y', '\ud800', 'Token');
  const value: fc.Arbitrary<AnyValue> = fc.letrec<{ v: AnyValue }>((tie) => ({
    v: fc.oneof(
      { maxDepth: 3, depthIdentifier: 'v' },
      adversarialText.map(str),
      adversarialText.map(str),
      fc.integer().map(int),
      fc.double({ noNaN: true }).map(dbl),
      fc.uint8Array({ maxLength: 6 }).map((b) => bytes(...b)),
      fc.constant<AnyValue>({ kind: 'empty' }),
      fc.array(tie('v'), { maxLength: 3 }).map((items) => arr(...items)),
      fc.array(fc.tuple(keys, tie('v')), { maxLength: 3 }).map((entries) => kvl(...entries.map(([k, v]) => kv(k, v)))),
    ),
  })).v;
  const attributes = fc.array(fc.tuple(keys, value), { maxLength: 6 }).map((entries) => entries.map(([k, v]) => kv(k, v)));
  const configs: ScrubConfigInput[] = [
    {},
    { hashKey: HASH_KEY, rules: [{ name: 'url-hash', key: '^url\\.', value: 'https?://\\S+', action: 'hash' }] },
    { rules: [{ name: 'drop-cards', value: '\\d{4}', action: 'drop' }], disableBuiltins: ['credit-card'] },
    { rules: [{ name: 'redact-msg', key: '^msg$', action: 'redact' }] },
  ];

  it('gives the same bytes and counts as decoding everything, on random attribute sets', () => {
    fc.assert(
      fc.property(attributes, attributes, attributes, fc.constantFrom(...configs), (spanAttrs, eventAttrs, resourceAttrs, input) => {
        const config = ScrubConfigSchema.parse(input);
        const fast = createScrubber(config);
        const slow = createScrubber(config, { byteShortcuts: false });
        const span = makeSpan({
          attributes: spanAttrs,
          events: [{ timeUnixNano: 1n, name: 'e', attributes: eventAttrs, droppedAttributesCount: 0 }],
        });
        const groups: SpanGroup[] = [
          { ...groupOf('svc', [span, makeSpan({ attributes: eventAttrs })], resourceAttrs), scope: encodeScope({ name: 's', version: '1', attributes: eventAttrs, droppedAttributesCount: 0 }) },
        ];
        // Twice each: the second call runs on cached key plans.
        for (let round = 0; round < 2; round++) {
          const a = fast.scrub(groups);
          const b = slow.scrub(groups);
          expect(a.changedSpans).toBe(b.changedSpans);
          expect(a.malformedSpans).toBe(b.malformedSpans);
          expect(a.counts).toEqual(b.counts);
          expect(a.groups.length).toBe(b.groups.length);
          a.groups.forEach((g, i) => {
            const h = b.groups[i]!;
            expect(g === groups[i]).toBe(h === groups[i]);
            expect(Buffer.from(g.resource).equals(Buffer.from(h.resource))).toBe(true);
            expect(Buffer.from(g.scope).equals(Buffer.from(h.scope))).toBe(true);
            expect(g.spans.length).toBe(h.spans.length);
            g.spans.forEach((s, j) => {
              expect(s === groups[i]!.spans[j]).toBe(h.spans[j] === groups[i]!.spans[j]);
              expect(Buffer.from(s).equals(Buffer.from(h.spans[j]!))).toBe(true);
            });
          });
        }
      }),
      { seed: 5, numRuns: 400 },
    );
  });

  it('a key predicted from the previous one is compared, not trusted (keys in changing orders)', () => {
    const s = scrubber();
    const orders = [
      [kv('msg', 'a'), kv('password', 'x'), kv('n', 'b')],
      [kv('msg', 'a'), kv('passwore', 'x'), kv('n', 'b')],
      [kv('msg', 'a'), kv('n', 'b'), kv('password', 'x')],
      [kv('msg', 'a'), kv('password', 'x'), kv('n', 'b')],
    ];
    const result = s.scrub([groupOf('svc', orders.map((attributes) => makeSpan({ attributes })))]);
    const out = result.groups[0]!.spans.map((b) => decodeSpan(b).attributes);
    expect(out[0]).toEqual([kv('msg', 'a'), kv('password', REDACTED), kv('n', 'b')]);
    expect(out[1]).toEqual(orders[1]);
    expect(out[2]).toEqual([kv('msg', 'a'), kv('n', 'b'), kv('password', REDACTED)]);
    expect(out[3]).toEqual(out[0]);
  });

  it('key plans cached by bytes survive many distinct keys (cache bound) and hash collisions of prefixes', () => {
    const s = scrubber();
    const attrs = Array.from({ length: 12_000 }, (_, i) => kv(`k${i}`, 'v'));
    attrs.push(kv('password', 'x'), kv('passwore', 'x'));
    const result = s.scrub([groupOf('svc', [makeSpan({ attributes: attrs })])]);
    const out = decodeSpan(result.groups[0]!.spans[0]!).attributes;
    expect(out.at(-2)).toEqual(kv('password', REDACTED));
    expect(out.at(-1)).toEqual(kv('passwore', 'x'));
  });
});
