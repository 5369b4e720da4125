// The block object store a process uses, from its flags (--storage-backend and friends). Shared by
// all-in-one, ingester, querier and controller so they cannot disagree on where blocks live.
import path from 'node:path';
import type { FlagValues } from '../common/config/index.js';
import { SkeinError } from '../common/errors/index.js';
import { createFilesystemObjectStore, createS3ObjectStore, type ObjectStore } from '../common/storage/index.js';

export const BLOCK_STORAGE_FLAGS = ['storage-backend', 'storage-dir', 's3-bucket', 's3-endpoint', 's3-region', 's3-prefix', 's3-force-path-style'] as const;

type StorageConfig = FlagValues<(typeof BLOCK_STORAGE_FLAGS)[number]> & { readonly 'data-dir'?: string };

/** Opens the configured store; errors say which flag to fix. */
export async function openBlockStorage(config: StorageConfig): Promise<ObjectStore> {
  if (config['storage-backend'] === 's3') {
    if (config['s3-bucket'] === '') throw new SkeinError('INVALID_ARGUMENT', '--storage-backend=s3 needs --s3-bucket (and usually --s3-endpoint for a non-AWS service)');
    const endpoint = config['s3-endpoint'] === '' ? undefined : config['s3-endpoint'];
    const pathStyle = config['s3-force-path-style'];
    return createS3ObjectStore({
      bucket: config['s3-bucket'],
      region: config['s3-region'],
      ...(endpoint === undefined ? {} : { endpoint }),
      ...(config['s3-prefix'] === '' ? {} : { prefix: config['s3-prefix'] }),
      ...(pathStyle === 'auto' ? {} : { forcePathStyle: pathStyle === 'true' }),
    });
  }
  const dir = config['storage-dir'] !== '' ? config['storage-dir'] : path.join(config['data-dir'] ?? './data', 'blocks');
  return createFilesystemObjectStore({ root: dir });
}
