// The file operations of the append path, behind a seam so tests can inject write and sync
// failures (making a directory read-only does not stop root, and closing a live fd is racy).
import { open } from 'node:fs/promises';

export interface WalFileHandle {
  /** Positional vectored write (pwritev); may write fewer bytes than given. */
  writev(buffers: readonly Uint8Array[], position: number): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

export interface WalFileOps {
  /**
   * Opens a segment for writing. 'create' makes a new file and fails if it exists; 'existing' opens
   * one to continue at its tail. Never O_APPEND: writes are positional so a failed write can be
   * truncated away and rewritten at the same offset.
   */
  openSegment(filePath: string, mode: 'create' | 'existing'): Promise<WalFileHandle>;
  /** fsync on the directory, so that created, renamed and removed entries survive a crash. */
  syncDir(dirPath: string): Promise<void>;
}

export const nodeFileOps: WalFileOps = {
  async openSegment(filePath, mode) {
    const handle = await open(filePath, mode === 'create' ? 'wx' : 'r+');
    return {
      writev: (buffers, position) => handle.writev(buffers, position),
      datasync: () => handle.datasync(),
      truncate: (length) => handle.truncate(length),
      close: () => handle.close(),
    };
  },
  async syncDir(dirPath) {
    const handle = await open(dirPath, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
};
