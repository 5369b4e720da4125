// Tenant resolution from X-Scope-OrgID (DESIGN.md §4). The allowed alphabet is the one Cortex,
// Mimir, Loki and Tempo accept for org IDs, so IDs that work against Tempo work here too; "." and
// ".." are refused because tenant IDs end up in storage paths.
import { DEFAULT_TENANT } from '../../common/model/index.js';
import { fail, ok, type Parsed } from './params.js';

export const TENANT_HEADER = 'X-Scope-OrgID';

const TENANT_PATTERN = /^[A-Za-z0-9!_.*'()-]{1,150}$/;

export type TenantOutcome = Parsed<string> & { readonly missing?: boolean };

/**
 * Resolves the tenant of a request from the header value(s). Absent (or empty) → DEFAULT_TENANT,
 * unless tenancy is required (then `missing: true`, answered with 401). Malformed → 400.
 */
export function resolveTenant(header: string | readonly string[] | undefined, required: boolean): TenantOutcome {
  const values = header === undefined ? [] : typeof header === 'string' ? [header] : header;
  const present = values.map((v) => v.trim()).filter((v) => v !== '');
  if (present.length === 0) {
    if (required) {
      return { ok: false, missing: true, message: `tenancy is required: send the tenant ID in the ${TENANT_HEADER} header` };
    }
    return ok(DEFAULT_TENANT);
  }
  if (present.length > 1) return fail(`header ${TENANT_HEADER} was sent ${present.length} times; send one tenant ID`);
  const tenant = present[0];
  if (tenant === '.' || tenant === '..' || !TENANT_PATTERN.test(tenant)) {
    return fail(
      `header ${TENANT_HEADER}: '${truncate(tenant)}' is not a valid tenant ID; send 1–150 characters of ` +
        `letters, digits and !_.*'()- (not "." or "..")`,
    );
  }
  return ok(tenant);
}

function truncate(s: string): string {
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}
