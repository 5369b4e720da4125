// Worker-thread entry of the block worker pool: receives packed batches (transferred, not copied)
// and runs buildBlock on them, or whole input blocks and runs mergeBlocks; transfers the objects
// back. Nothing else runs here; a throw is an answer (`failed`), only a crash of the thread itself ends it.
import { parentPort } from 'node:worker_threads';
import { buildBlock, mergeBlocks } from '../block/index.js';
import { builtTransfer, unpackBatches, validatePacked } from './pack.js';
import { serializeError, type BuildResponse, type WorkerRequest } from './protocol.js';

const port = parentPort;
if (port === null) throw new Error('ingester/block-worker/worker.js runs as a worker thread only');

port.on('message', (m: WorkerRequest) => {
  let answer: BuildResponse;
  let transfer: ArrayBuffer[] = [];
  try {
    if (m.kind === 'merge') {
      const t = builtTransfer(mergeBlocks({ ...m.params, inputs: m.inputs }));
      answer = { kind: 'merged', id: m.id, built: t.built };
      transfer = t.transfer;
    } else {
      validatePacked(m.packed);
      const built = buildBlock({ ...m.params, batches: unpackBatches(m.packed) });
      const t = builtTransfer(built);
      answer = { kind: 'built', id: m.id, built: t.built };
      transfer = t.transfer;
    }
  } catch (e) {
    answer = { kind: 'failed', id: m.id, error: serializeError(e) };
  }
  port.postMessage(answer, transfer);
});
