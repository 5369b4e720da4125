// common/heap — a binary heap of numbers in a plain array, ordered by a caller's comparison (heap.ts).
export { heapPop, heapPush, heapReplaceTop } from './heap.js';
