// RFC 6902 JSON Patch by diff: the admission response must be a patch, while the mutator is written
// as pod in → pod out. Diffing keeps the two from drifting apart and makes "nothing to do" an empty
// patch, which is what makes re-invocation (reinvocationPolicy: IfNeeded) a no-op.
//
// Arrays are compared element-wise only when their lengths match; otherwise the whole array is
// replaced. Index-level add/remove would be smaller, but a replace cannot be misapplied by the
// apiserver when the array changed between our read and its apply, and pod arrays are short.

export interface JsonPatchOperation {
  readonly op: 'add' | 'remove' | 'replace';
  /** RFC 6901 JSON Pointer. */
  readonly path: string;
  readonly value?: unknown;
}

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// JSON has no `undefined`: a key holding it is absent once serialised, so it is absent here too.
function ownKeys(o: JsonObject): string[] {
  return Object.keys(o).filter((k) => o[k] !== undefined);
}

// Own members only: parsed JSON may carry a `__proto__` key, which plain indexing would resolve to
// Object.prototype when absent.
function member(o: JsonObject, key: string): unknown {
  return Object.hasOwn(o, key) ? o[key] : undefined;
}

/** RFC 6901 §3: `~` first, so an escaped `/` (`~1`) is not re-escaped into `~01`. */
export function escapePointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

function unescapePointerToken(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = ownKeys(a);
    return ka.length === ownKeys(b).length && ka.every((k) => jsonEqual(a[k], member(b, k)));
  }
  return false;
}

export function computeJsonPatch(before: unknown, after: unknown): JsonPatchOperation[] {
  const ops: JsonPatchOperation[] = [];
  diff(before, after, '', ops);
  return ops;
}

function diff(before: unknown, after: unknown, path: string, ops: JsonPatchOperation[]): void {
  if (jsonEqual(before, after)) return;
  if (isObject(before) && isObject(after)) {
    for (const key of ownKeys(before)) {
      if (member(after, key) === undefined) ops.push({ op: 'remove', path: `${path}/${escapePointerToken(key)}` });
    }
    for (const key of ownKeys(after)) {
      const child = `${path}/${escapePointerToken(key)}`;
      const was = member(before, key);
      if (was === undefined) ops.push({ op: 'add', path: child, value: after[key] });
      else diff(was, after[key], child, ops);
    }
    return;
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    before.forEach((v, i) => diff(v, after[i], `${path}/${i}`, ops));
    return;
  }
  ops.push({ op: 'replace', path, value: after });
}

/**
 * Applies `ops` to a copy of `doc` (the three operations computeJsonPatch emits, with RFC 6902
 * semantics, including array insertion and `-`). For tests and for checking a patch before sending
 * it; throws on a path that does not resolve.
 */
export function applyJsonPatch(doc: unknown, ops: readonly JsonPatchOperation[]): unknown {
  let root = structuredClone(doc);
  for (const op of ops) {
    if (op.path === '') {
      if (op.op === 'remove') throw new Error('cannot remove the document root');
      root = structuredClone(op.value);
      continue;
    }
    if (!op.path.startsWith('/')) throw new Error(`invalid JSON Pointer ${JSON.stringify(op.path)}`);
    const tokens = op.path.slice(1).split('/').map(unescapePointerToken);
    const last = tokens.pop()!;
    let parent: unknown = root;
    for (const token of tokens) parent = child(parent, token, op.path);
    const value = structuredClone(op.value);
    if (Array.isArray(parent)) {
      const index = last === '-' && op.op === 'add' ? parent.length : arrayIndex(last, op.path);
      const limit = op.op === 'add' ? parent.length : parent.length - 1;
      if (index > limit) throw new Error(`index out of range at ${op.path}`);
      if (op.op === 'add') parent.splice(index, 0, value);
      else if (op.op === 'remove') parent.splice(index, 1);
      else parent[index] = value;
    } else if (isObject(parent)) {
      if (op.op !== 'add' && !Object.hasOwn(parent, last)) throw new Error(`no member at ${op.path}`);
      if (op.op === 'remove') delete parent[last];
      // defineProperty, not assignment: a `__proto__` member must become data, not a prototype.
      else Object.defineProperty(parent, last, { value, writable: true, enumerable: true, configurable: true });
    } else {
      throw new Error(`no container at ${op.path}`);
    }
  }
  return root;
}

function arrayIndex(token: string, path: string): number {
  if (!/^(0|[1-9]\d*)$/.test(token)) throw new Error(`invalid array index at ${path}`);
  return Number(token);
}

function child(parent: unknown, token: string, path: string): unknown {
  if (Array.isArray(parent)) {
    const index = arrayIndex(token, path);
    if (index >= parent.length) throw new Error(`index out of range at ${path}`);
    return parent[index];
  }
  if (isObject(parent) && Object.hasOwn(parent, token)) return parent[token];
  throw new Error(`path does not resolve: ${path}`);
}
