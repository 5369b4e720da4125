// The one error a block reader raises about the block itself (STYLE.md rule 5): some part of it is
// unreadable — a checksum mismatch, a truncated or missing object, a format version this reader
// does not know, or bytes that do not decode. It names the block, the object and (for data pages)
// the page, so an operator can find and quarantine exactly that. Never retryable: the bytes will
// not change. Store failures (UNAVAILABLE, …) pass through unchanged; they are not the block's fault.
import { SkeinError } from '../../common/errors/index.js';

export type BlockCorruptKind = 'checksum' | 'truncated' | 'missing' | 'version' | 'malformed';

export class BlockCorruptError extends SkeinError {
  readonly blockId: string;
  /** Object key within the block's prefix: `data`, `index`, `bloom` or `meta.json`. */
  readonly object: string;
  /** Page number within `data` (the column directory's order), when one page is at fault. */
  readonly page: number | undefined;
  readonly kind: BlockCorruptKind;
  /** What is wrong, without the block and place (the message has those too). */
  readonly reason: string;

  constructor(options: { blockId: string; object: string; page?: number; kind: BlockCorruptKind; reason: string; cause?: unknown }) {
    const where = options.page === undefined ? `object ${options.object}` : `object ${options.object}, page ${options.page}`;
    super('CORRUPT_BLOCK', `block ${options.blockId} unreadable (${where}): ${options.reason}`, options.cause === undefined ? {} : { cause: options.cause });
    this.name = 'BlockCorruptError';
    this.blockId = options.blockId;
    this.object = options.object;
    this.page = options.page;
    this.kind = options.kind;
    this.reason = options.reason;
  }
}

export function isBlockCorruptError(e: unknown): e is BlockCorruptError {
  return e instanceof BlockCorruptError;
}
