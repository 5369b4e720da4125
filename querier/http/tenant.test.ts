import { describe, it, expect } from 'vitest';
import { DEFAULT_TENANT } from '../../common/model/index.js';
import { resolveTenant } from './tenant.js';

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
    const out = resolveTenant(header, required);
    expect(out).toEqual({ ok: true, value: tenant });
  });

  it('absent header with tenancy required → missing (401), naming the header', () => {
    const out = resolveTenant(undefined, true);
    expect(out.ok).toBe(false);
    expect(out.missing).toBe(true);
    if (!out.ok) expect(out.message).toContain('X-Scope-OrgID');
  });

  const rejected = ['.', '..', 'a b', 'a/b', 'a|b', 'x'.repeat(151), 'tenant#1', 'ü'];
  it.each(rejected)('rejects %j as malformed (400), not missing', (header) => {
    const out = resolveTenant(header, false);
    expect(out.ok).toBe(false);
    expect(out.missing).toBeUndefined();
    if (!out.ok) expect(out.message).toMatch(/X-Scope-OrgID.*not a valid tenant ID; send 1–150 characters/);
  });

  it('rejects the header sent twice with different values', () => {
    const out = resolveTenant(['a', 'b'], false);
    expect(out.ok).toBe(false);
  });
});
