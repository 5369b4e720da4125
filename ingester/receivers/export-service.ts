// What receivers call: decode-free handling of one export request for one tenant. Implemented by
// the ingester composition root; receivers only speak their transport.
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
