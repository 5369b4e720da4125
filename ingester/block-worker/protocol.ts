// Messages between the pool (pool.ts) and a worker (worker.ts). One task per worker at a time; the
// id ties the answer to its task. Errors cross as plain data and are rebuilt with their code.
import { ErrorCodes, SkeinError } from '../../common/errors/index.js';
import { BlockCorruptError, type BlockCorruptKind, type BuildBlockOptions, type BuiltBlock, type MergedBlock, type MergeInput } from '../block/index.js';
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

/** mergeBlocks (columnar compaction) of whole input objects (transferred, not copied). */
export interface MergeRequest {
  readonly kind: 'merge';
  readonly id: number;
  readonly params: PackedBuildParams;
  readonly inputs: readonly MergeInput[];
}

export type WorkerRequest = BuildRequest | MergeRequest;

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly code: string | undefined;
  readonly stack: string | undefined;
  /** A BlockCorruptError's fields (the compactor blames that input). */
  readonly corrupt?: { readonly blockId: string; readonly object: string; readonly page: number | undefined; readonly kind: BlockCorruptKind; readonly reason: string };
}

export type BuildResponse =
  | { readonly kind: 'built'; readonly id: number; readonly built: BuiltBlock }
  | { readonly kind: 'merged'; readonly id: number; readonly built: MergedBlock }
  | { readonly kind: 'failed'; readonly id: number; readonly error: SerializedError };

export function serializeError(e: unknown): SerializedError {
  if (e instanceof BlockCorruptError) {
    return { name: e.name, message: e.message, code: e.code, stack: e.stack, corrupt: { blockId: e.blockId, object: e.object, page: e.page, kind: e.kind, reason: e.reason } };
  }
  if (e instanceof Error) return { name: e.name, message: e.message, code: e instanceof SkeinError ? e.code : undefined, stack: e.stack };
  return { name: 'Error', message: String(e), code: undefined, stack: undefined };
}

/** A SkeinError with the same code when the worker threw one (a BlockCorruptError as one); INTERNAL otherwise. */
export function deserializeError(e: SerializedError): SkeinError {
  if (e.corrupt !== undefined) {
    const c = e.corrupt;
    const error = new BlockCorruptError({ blockId: c.blockId, object: c.object, kind: c.kind, reason: c.reason, ...(c.page === undefined ? {} : { page: c.page }) });
    if (e.stack !== undefined) error.stack = `${error.name}: ${error.message}\n    --- in the block worker ---\n${e.stack}`;
    return error;
  }
  const code = e.code !== undefined && e.code in ErrorCodes ? (e.code as keyof typeof ErrorCodes) : 'INTERNAL';
  const error = new SkeinError(code, code === 'INTERNAL' && e.code === undefined ? `block worker: ${e.name}: ${e.message}` : e.message);
  if (e.stack !== undefined) error.stack = `${error.name}: ${error.message}\n    --- in the block worker ---\n${e.stack}`;
  return error;
}
