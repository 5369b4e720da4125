// ingester/wal — the per-shard write-ahead log: segmented files of length + CRC32C framed records
// (format, replay and repair policy in FORMAT.md), group commit under an fsync policy, replay and
// repair at open. The record codec and frame reader are pure and exported for tools and tests.
export { encodeBatchRecord, decodeBatchRecord, tryDecodeBatchRecord, WAL_FORMAT_VERSION, RecordType, type BatchDecodeResult } from './batch-codec.js';
export { encodeFrame, readFrames, FRAME_HEADER_BYTES, MAX_PAYLOAD_BYTES, type Frame, type FrameEnd, type FrameScan } from './frame.js';
export { openWal, WAL_DEFAULTS, type Wal, type WalOptions, type FsyncPolicy } from './wal.js';
export { QUARANTINE_DIR, type ReplayReport, type RecordPosition, type RecordHandler } from './replay.js';
export { segmentFileName, parseSegmentFileName } from './segment-files.js';
export type { WalFileOps, WalFileHandle } from './file-ops.js';
