// The agent's bounded buffer between the receivers (which must answer the app at once) and the
// exporter (which may be slow or down). Bounded by bytes, and optionally by entry count, so memory
// stays within the sidecar's limit whatever the app sends.
//
// Drop policy: when an entry does not fit, the entry being offered is rejected (drop-newest). The
// queue never blocks and never evicts what it has accepted: offer is O(1), the entries already
// queued (and the batch the exporter is building from them) stay intact, and one export request's
// spans are kept or dropped together. Under a sustained overload this keeps the oldest data, which
// also has the most complete traces behind it.
//
// Entries carry a weight (the agent uses span counts) so batches can be cut by spans as well as
// bytes. Purely in-memory and synchronous; the batcher owns the timing.

export type QueueDropReason = 'queue-full' | 'too-large' | 'closed';

export type OfferResult = { readonly kind: 'accepted' } | { readonly kind: 'dropped'; readonly reason: QueueDropReason };

export interface ByteQueueOptions {
  /** Most bytes held at once. */
  readonly maxBytes: number;
  /** Most entries held at once (default: unbounded). */
  readonly maxItems?: number;
  /** Largest single entry accepted (default: maxBytes); larger ones are 'too-large'. */
  readonly maxItemBytes?: number;
}

export interface Taken<T> {
  readonly items: T[];
  readonly bytes: number;
  readonly weight: number;
}

export interface ByteQueue<T> {
  /** Adds an entry of `bytes` bytes and `weight` (default 1) unless it does not fit. Never blocks. */
  offer(item: T, bytes: number, weight?: number): OfferResult;
  /**
   * Removes the oldest entries while their totals stay within maxBytes and maxWeight, and always at
   * least one entry when the queue is not empty (so an entry larger than a batch still leaves).
   */
  take(maxBytes: number, maxWeight?: number): Taken<T>;
  /** Removes and returns everything. */
  drain(): Taken<T>;
  /** Rejects later offers with 'closed'; what is queued can still be taken. */
  close(): void;
  readonly closed: boolean;
  readonly items: number;
  readonly bytes: number;
  readonly weight: number;
}

const ACCEPTED: OfferResult = { kind: 'accepted' };
const DROPPED: Record<QueueDropReason, OfferResult> = {
  'queue-full': { kind: 'dropped', reason: 'queue-full' },
  'too-large': { kind: 'dropped', reason: 'too-large' },
  closed: { kind: 'dropped', reason: 'closed' },
};

interface Entry<T> {
  readonly item: T;
  readonly bytes: number;
  readonly weight: number;
}

/** Sizes are integers so the running totals stay exact. */
function checkSize(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be an integer ≥ 0, got ${value}`);
}

export function createByteQueue<T>(options: ByteQueueOptions): ByteQueue<T> {
  const maxBytes = options.maxBytes;
  const maxItems = options.maxItems ?? Infinity;
  const maxItemBytes = Math.min(options.maxItemBytes ?? maxBytes, maxBytes);
  checkSize('maxBytes', maxBytes);
  // A FIFO over an array with a moving head; compacted when the dead prefix dominates.
  let entries: (Entry<T> | undefined)[] = [];
  let head = 0;
  let bytes = 0;
  let weight = 0;
  let closed = false;

  const shift = (): Entry<T> => {
    const e = entries[head]!;
    entries[head++] = undefined;
    bytes -= e.bytes;
    weight -= e.weight;
    if (head === entries.length) {
      entries = [];
      head = 0;
    } else if (head >= 1024 && head * 2 >= entries.length) {
      entries = entries.slice(head);
      head = 0;
    }
    return e;
  };

  const take = (limitBytes: number, limitWeight = Infinity): Taken<T> => {
    const items: T[] = [];
    let takenBytes = 0;
    let takenWeight = 0;
    while (head < entries.length) {
      const next = entries[head]!;
      if (items.length > 0 && (takenBytes + next.bytes > limitBytes || takenWeight + next.weight > limitWeight)) break;
      shift();
      items.push(next.item);
      takenBytes += next.bytes;
      takenWeight += next.weight;
    }
    return { items, bytes: takenBytes, weight: takenWeight };
  };

  return {
    offer(item, size, w = 1) {
      checkSize('bytes', size);
      checkSize('weight', w);
      if (closed) return DROPPED.closed;
      if (size > maxItemBytes) return DROPPED['too-large'];
      if (bytes + size > maxBytes || entries.length - head >= maxItems) return DROPPED['queue-full'];
      entries.push({ item, bytes: size, weight: w });
      bytes += size;
      weight += w;
      return ACCEPTED;
    },

    take,

    drain() {
      return take(Infinity, Infinity);
    },

    close() {
      closed = true;
    },

    get closed() {
      return closed;
    },
    get items() {
      return entries.length - head;
    },
    get bytes() {
      return bytes;
    },
    get weight() {
      return weight;
    },
  };
}
