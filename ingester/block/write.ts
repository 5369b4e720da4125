// writeBlock: the thin I/O edge of buildBlock — puts the objects in order, data first and meta.json
// last, so a block whose meta.json exists is complete (a crash before leaves an orphan that GC
// removes; the manifest key, committed after this returns, is what makes the block visible).
import type { ObjectCallOptions, ObjectStore } from '../../common/storage/index.js';
import type { BuiltBlock } from './build.js';

export async function writeBlock(store: ObjectStore, block: BuiltBlock, options?: ObjectCallOptions): Promise<void> {
  for (const o of block.objects) await store.put(o.key, o.body, options);
}
