// Tenants come from the X-Scope-OrgID header (HTTP) or metadata key (gRPC), as in Tempo, Loki and
// Mimir. Allowed characters follow their tenant-ID rules so IDs are safe in paths and labels.
import { DEFAULT_TENANT } from './query.js';

export const TENANT_HEADER = 'x-scope-orgid';

export type TenantResolution = { readonly ok: true; readonly tenant: string } | { readonly ok: false; readonly reason: 'missing' | 'invalid'; readonly message: string };

const VALID = /^[A-Za-z0-9!_.*'()-]{1,150}$/;

export function resolveTenant(header: string | readonly string[] | undefined, required: boolean): TenantResolution {
  const value: string | undefined = typeof header === 'string' || header === undefined ? header : header[0];
  if (value === undefined || value === '') {
    if (required)
      return { ok: false, reason: 'missing', message: 'tenancy is required: send the tenant in the X-Scope-OrgID header (e.g. X-Scope-OrgID: team-a)' };
    return { ok: true, tenant: DEFAULT_TENANT };
  }
  if (!VALID.test(value) || value === '.' || value === '..') {
    return {
      ok: false,
      reason: 'invalid',
      message: `invalid X-Scope-OrgID ${JSON.stringify(value.slice(0, 160))}: use 1-150 characters of A-Z a-z 0-9 ! _ . * ' ( ) -`,
    };
  }
  return { ok: true, tenant: value };
}
