// A bounded LRU of verified, decoded column pages shared by the block readers of a process (opt-in
// via OpenBlockOptions.pageCache; span pages are not cached). Search reads the same few columns of every block over and over —
// decompressing them is most of its cost — while a process can afford to keep tens of MiB of them.
// Pages enter only after their checksum and decoding succeeded, so the cache never holds bytes a
// reader would have refused. scan() (compaction) bypasses it: a whole-block pass would evict
// everything useful.

export interface PageCacheStats {
  readonly bytes: number;
  readonly pages: number;
  readonly hits: number;
  readonly misses: number;
}

export interface PageCache {
  readonly maxBytes: number;
  get(key: string): Uint8Array | undefined;
  set(key: string, raw: Uint8Array): void;
  stats(): PageCacheStats;
}

export function createPageCache(options: { maxBytes: number }): PageCache {
  const entries = new Map<string, Uint8Array>();
  let bytes = 0;
  let hits = 0;
  let misses = 0;
  const maxBytes = options.maxBytes;
  return {
    maxBytes,
    get(key: string): Uint8Array | undefined {
      const v = entries.get(key);
      if (v === undefined) {
        misses++;
        return undefined;
      }
      hits++;
      // Map keeps insertion order: re-inserting makes this the most recently used entry.
      entries.delete(key);
      entries.set(key, v);
      return v;
    },
    set(key: string, raw: Uint8Array): void {
      if (raw.byteLength > maxBytes / 4 || entries.has(key)) return;
      // Own the bytes: a view would keep a larger read buffer alive behind the accounting's back.
      const own = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength ? raw : raw.slice();
      entries.set(key, own);
      bytes += own.byteLength;
      for (const [k, v] of entries) {
        if (bytes <= maxBytes) break;
        entries.delete(k);
        bytes -= v.byteLength;
      }
    },
    stats: () => ({ bytes, pages: entries.size, hits, misses }),
  };
}
