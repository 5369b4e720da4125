// A binary heap over trace ordinals holding a search's best `limit` results so far; its root is
// the entry that would be dropped first, so a candidate that cannot beat it is skipped unverified.

export function heapPush(heap: number[], x: number, worse: (a: number, b: number) => boolean): void {
  heap.push(x);
  let i = heap.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!worse(heap[i]!, heap[p]!)) break;
    const tmp = heap[i]!;
    heap[i] = heap[p]!;
    heap[p] = tmp;
    i = p;
  }
}

export function heapReplaceTop(heap: number[], x: number, worse: (a: number, b: number) => boolean): void {
  heap[0] = x;
  const n = heap.length;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let m = i;
    if (l < n && worse(heap[l]!, heap[m]!)) m = l;
    if (r < n && worse(heap[r]!, heap[m]!)) m = r;
    if (m === i) return;
    const tmp = heap[i]!;
    heap[i] = heap[m]!;
    heap[m] = tmp;
    i = m;
  }
}
