// Worker-thread entry of the block worker pool: receives packed batches (transferred, not copied),
// runs buildBlock on them and transfers the objects back. Nothing else runs here; a throw from
// buildBlock is an answer (`failed`), only a crash of the thread itself ends it.
import { parentPort } from 'node:worker_threads';
import { buildBlock } from '../block/index.js';
import { builtTransfer, unpackBatches, validatePacked } from './pack.js';
import { serializeError, type BuildRequest, type BuildResponse } from './protocol.js';

const port = parentPort;
if (port === null) throw new Error('ingester/block-worker/worker.js runs as a worker thread only');

port.on('message', (m: BuildRequest) => {
  let answer: BuildResponse;
  let transfer: ArrayBuffer[] = [];
  try {
    validatePacked(m.packed);
    const built = buildBlock({ ...m.params, batches: unpackBatches(m.packed) });
    const t = builtTransfer(built);
    answer = { kind: 'built', id: m.id, built: t.built };
    transfer = t.transfer;
  } catch (e) {
    answer = { kind: 'failed', id: m.id, error: serializeError(e) };
  }
  port.postMessage(answer, transfer);
});
