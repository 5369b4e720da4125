// The head's metrics (STYLE.md: skein_<component>_<name>_<unit>), registered once per registry and
// labelled by shard.
import { counter, gauge, type Counter, type Gauge, type Registry } from '../../common/metrics/index.js';

export interface HeadMetrics {
  readonly inserted: Counter<'shard'>;
  readonly duplicates: Counter<'shard'>;
  readonly invalid: Counter<'shard'>;
  readonly full: Counter<'shard'>;
  readonly bytes: Gauge<'shard'>;
  readonly reserved: Gauge<'shard'>;
  readonly spans: Gauge<'shard'>;
  readonly traces: Gauge<'shard'>;
}

export function createMetrics(registry: Registry): HeadMetrics {
  return {
    inserted: counter(registry, 'skein_ingester_head_spans_inserted_total', 'Spans inserted into the head.', ['shard']),
    duplicates: counter(registry, 'skein_ingester_head_duplicate_spans_total', 'Spans dropped as duplicates of stored or pending spans.', ['shard']),
    invalid: counter(registry, 'skein_ingester_head_invalid_spans_total', 'Spans dropped because their IDs could not be read.', ['shard']),
    full: counter(registry, 'skein_ingester_head_full_rejections_total', 'Batches refused because the head memory budget was exhausted.', ['shard']),
    bytes: gauge(registry, 'skein_ingester_head_bytes', 'Bytes held by the head (span bytes and indexes).', ['shard']),
    reserved: gauge(registry, 'skein_ingester_head_reserved_bytes', 'Bytes reserved for admitted, not yet committed spans.', ['shard']),
    spans: gauge(registry, 'skein_ingester_head_spans', 'Spans held by the head.', ['shard']),
    traces: gauge(registry, 'skein_ingester_head_traces', 'Traces held by the head.', ['shard']),
  };
}
