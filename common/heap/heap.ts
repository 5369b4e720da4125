// A binary heap of numbers (ordinals into the caller's own arrays) in a plain array, ordered by the
// caller's `before(a, b)`: the root is the entry no other comes before. The head's and the block
// search's top-k keep the entry to drop first at the root; the compaction merge keeps the smallest
// trace ID there.

export function heapPush(heap: number[], x: number, before: (a: number, b: number) => boolean): void {
  heap.push(x);
  let i = heap.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!before(heap[i]!, heap[p]!)) break;
    const tmp = heap[i]!;
    heap[i] = heap[p]!;
    heap[p] = tmp;
    i = p;
  }
}

/** Replaces the root with `x` and restores the order. */
export function heapReplaceTop(heap: number[], x: number, before: (a: number, b: number) => boolean): void {
  heap[0] = x;
  const n = heap.length;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let m = i;
    if (l < n && before(heap[l]!, heap[m]!)) m = l;
    if (r < n && before(heap[r]!, heap[m]!)) m = r;
    if (m === i) return;
    const tmp = heap[i]!;
    heap[i] = heap[m]!;
    heap[m] = tmp;
    i = m;
  }
}

/** Removes and returns the root (undefined when empty). */
export function heapPop(heap: number[], before: (a: number, b: number) => boolean): number | undefined {
  const top = heap[0];
  const last = heap.pop();
  if (heap.length > 0 && last !== undefined) heapReplaceTop(heap, last, before);
  return top;
}
