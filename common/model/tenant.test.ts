import { describe, it, expect } from 'vitest';
import { DEFAULT_TENANT, resolveTenant } from './index.js';

describe('resolveTenant', () => {
  const accepted: [string | undefined, boolean, string][] = [
    [undefined, false, DEFAULT_TENANT],
    ['', false, DEFAULT_TENANT],
    ['team-a', false, 'team-a'],
    ['team-a', true, 'team-a'],
    ["A.b_c!*'()-9", true, "A.b_c!*'()-9"],
    ['x'.repeat(150), true, 'x'.repeat(150)],
    ['...', true, '...'],
  ];
  it.each(accepted)('%j (required=%s) → %j', (header, required, tenant) => {
    expect(resolveTenant(header, required)).toEqual({ ok: true, tenant });
  });

  it.each([undefined, ''])('absent header %j with tenancy required → missing, naming the header', (header) => {
    const out = resolveTenant(header, true);
    expect(out).toEqual({ ok: false, reason: 'missing', message: expect.stringContaining('X-Scope-OrgID') });
  });

  // 'a, b' is what Node makes of the header sent twice with different values.
  const rejected = ['.', '..', 'a b', 'a/b', 'a|b', 'a, b', 'x'.repeat(151), 'tenant#1', 'ü'];
  it.each(rejected)('rejects %j as invalid, not missing', (header) => {
    const out = resolveTenant(header, false);
    expect(out).toEqual({ ok: false, reason: 'invalid', message: expect.stringMatching(/X-Scope-OrgID.*1-150 characters/) });
  });

  it('reads the first value when the header arrives as a list', () => {
    expect(resolveTenant(['team-a', 'team-b'], true)).toEqual({ ok: true, tenant: 'team-a' });
  });
});
