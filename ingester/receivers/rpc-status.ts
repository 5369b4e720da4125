// google.rpc.Status (and RetryInfo) encoding, hand-written from the public protos:
//   Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
//   Any { string type_url = 1; bytes value = 2; }
//   RetryInfo { google.protobuf.Duration retry_delay = 1; }  Duration { int64 seconds = 1; int32 nanos = 2; }
// OTLP/HTTP error bodies are a Status; OTLP/gRPC carries RetryInfo in grpc-status-details-bin so SDKs
// honour our back-off hint.

const RETRY_INFO_TYPE = 'type.googleapis.com/google.rpc.RetryInfo';

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

function field(no: number, bytes: Uint8Array): number[] {
  return [...varint((no << 3) | 2), ...varint(bytes.length), ...bytes];
}

const utf8 = new TextEncoder();

export function encodeRetryInfo(retryAfterSeconds: number): Uint8Array {
  const seconds = Math.max(0, Math.floor(retryAfterSeconds));
  const duration = seconds > 0 ? [...varint(1 << 3), ...varint(seconds)] : [];
  return Uint8Array.from(field(1, Uint8Array.from(duration)));
}

export function encodeRpcStatus(code: number, message: string, retryAfterSeconds?: number): Uint8Array {
  const bytes: number[] = [];
  if (code !== 0) bytes.push(...varint(1 << 3), ...varint(code));
  if (message) bytes.push(...field(2, utf8.encode(message)));
  if (retryAfterSeconds !== undefined) {
    const any = [...field(1, utf8.encode(RETRY_INFO_TYPE)), ...field(2, encodeRetryInfo(retryAfterSeconds))];
    bytes.push(...field(3, Uint8Array.from(any)));
  }
  return Uint8Array.from(bytes);
}
