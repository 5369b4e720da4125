// Messages between the pool (pool.ts) and a worker (worker.ts). One task per worker at a time; the
// id ties the answer to its task. Errors cross as plain data and are rebuilt with their code.
import { ErrorCodes, SkeinError } from '../../common/errors/index.js';
import type { BuildBlockOptions, BuiltBlock } from '../block/index.js';
import type { PackedBatches } from './pack.js';

/** BuildBlockParams without the batches (they travel packed). */
export interface PackedBuildParams {
  readonly blockId: string;
  readonly tenant: string;
  readonly shard: number;
  readonly level: number;
  readonly options?: BuildBlockOptions;
}

export interface BuildRequest {
  readonly kind: 'build';
  readonly id: number;
  readonly params: PackedBuildParams;
  readonly packed: PackedBatches;
}

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly code: string | undefined;
  readonly stack: string | undefined;
}

export type BuildResponse = { readonly kind: 'built'; readonly id: number; readonly built: BuiltBlock } | { readonly kind: 'failed'; readonly id: number; readonly error: SerializedError };

export function serializeError(e: unknown): SerializedError {
  if (e instanceof Error) return { name: e.name, message: e.message, code: e instanceof SkeinError ? e.code : undefined, stack: e.stack };
  return { name: 'Error', message: String(e), code: undefined, stack: undefined };
}

/** A SkeinError with the same code when the worker threw one; INTERNAL otherwise. */
export function deserializeError(e: SerializedError): SkeinError {
  const code = e.code !== undefined && e.code in ErrorCodes ? (e.code as keyof typeof ErrorCodes) : 'INTERNAL';
  const error = new SkeinError(code, code === 'INTERNAL' && e.code === undefined ? `block worker: ${e.name}: ${e.message}` : e.message);
  if (e.stack !== undefined) error.stack = `${error.name}: ${error.message}\n    --- in the block worker ---\n${e.stack}`;
  return error;
}
