// WAL metrics, one set per shard (label `shard`). The library counts; it never logs.
import { counter, histogram, Registry } from '../../common/metrics/index.js';

export type DropReason = 'torn' | 'corrupt';

export interface WalMetrics {
  recordsReplayed(n: number): void;
  droppedBytes(reason: DropReason, n: number): void;
  appended(records: number, bytes: number): void;
  appendFailed(records: number): void;
  fsynced(seconds: number): void;
}

export function createWalMetrics(registry: Registry | undefined, shard: number | undefined): WalMetrics {
  // Without a registry the counters still work, in a private registry nobody scrapes.
  const r = registry ?? new Registry();
  const s = String(shard ?? 0);
  const replayed = counter(r, 'skein_ingester_wal_records_replayed_total', 'Records replayed from the WAL at open.', ['shard']).labels(s);
  const dropped = counter(r, 'skein_ingester_wal_dropped_bytes_total', 'Bytes dropped by WAL repair at open (torn tail or corruption).', ['shard', 'reason']);
  const appends = counter(r, 'skein_ingester_wal_appends_total', 'Records appended durably (per the fsync policy).', ['shard']).labels(s);
  const appendBytes = counter(r, 'skein_ingester_wal_append_bytes_total', 'Framed bytes appended durably.', ['shard']).labels(s);
  const failures = counter(r, 'skein_ingester_wal_append_failures_total', 'Appends rejected because a write or sync failed.', ['shard']).labels(s);
  const fsyncs = counter(r, 'skein_ingester_wal_fsyncs_total', 'fdatasync calls on WAL segments.', ['shard']).labels(s);
  const fsyncSeconds = histogram(r, 'skein_ingester_wal_fsync_duration_seconds', 'Duration of fdatasync on WAL segments.', ['shard']).labels(s);
  return {
    recordsReplayed: (n) => replayed.inc(n),
    droppedBytes: (reason, n) => dropped.inc({ shard: s, reason }, n),
    appended: (records, bytes) => {
      appends.inc(records);
      appendBytes.inc(bytes);
    },
    appendFailed: (n) => failures.inc(n),
    fsynced: (seconds) => {
      fsyncs.inc();
      fsyncSeconds.observe(seconds);
    },
  };
}
