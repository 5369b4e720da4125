// Segment file naming and discovery (FORMAT.md §Files).
import { readdir } from 'node:fs/promises';
import path from 'node:path';

const SEGMENT_NAME = /^(\d{8,})\.wal$/;

/** `1` → `00000001.wal`; numbers past 99999999 simply grow wider and still sort numerically. */
export function segmentFileName(segment: number): string {
  return `${String(segment).padStart(8, '0')}.wal`;
}

export function parseSegmentFileName(name: string): number | undefined {
  const m = SEGMENT_NAME.exec(name);
  if (!m) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

export function segmentPath(dir: string, segment: number): string {
  return path.join(dir, segmentFileName(segment));
}

/** Segment numbers present in `dir`, ascending. Other entries (quarantine/, stray files) are ignored. */
export async function listSegments(dir: string): Promise<number[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const segments: number[] = [];
  for (const e of entries) {
    if (!e.isFile()) continue;
    const n = parseSegmentFileName(e.name);
    if (n !== undefined) segments.push(n);
  }
  return segments.sort((a, b) => a - b);
}
