// What receivers call: decode-free handling of one export request for one tenant. Implemented by
// the ingester composition root; receivers only speak their transport.
import { SkeinError } from '../../common/errors/index.js';
import { encodeExportRequest, fromOtlpJson } from '../../common/otlp/index.js';

export type ExportFormat = 'protobuf' | 'json';
export type Transport = 'grpc' | 'http';

export interface ExportOutcome {
  /** OTLP partial_success.rejected_spans. */
  readonly rejectedSpans: number;
  /** OTLP partial_success.error_message ('' when all accepted). */
  readonly errorMessage: string;
}

export interface ExportService {
  /** Throws SkeinError for whole-request failures (bad payload, head full, not durable, shutting down). */
  export(tenant: string, body: Uint8Array, format: ExportFormat, transport: Transport): Promise<ExportOutcome>;
  /** Counts a request refused before it reached export() (tenant, size, media type). */
  refused(transport: Transport, code: string): void;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** OTLP protobuf bytes of an export body: protobuf as is; OTLP/JSON mapped and re-encoded (BAD_PAYLOAD when it is not JSON). */
export function exportRequestBytes(body: Uint8Array, format: ExportFormat): Uint8Array {
  if (format === 'protobuf') return body;
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(body));
  } catch (e) {
    throw new SkeinError('BAD_PAYLOAD', `body is not valid JSON: ${(e as Error).message}`);
  }
  return encodeExportRequest(fromOtlpJson(parsed));
}
