// OTLP/HTTP receiver: POST /v1/traces with application/x-protobuf or application/json bodies,
// optionally gzip-compressed (OTLP specification, "OTLP/HTTP"). Responses use the request's encoding:
// 200 + ExportTraceServiceResponse (partial_success when some spans were rejected); 4xx/5xx + a
// google.rpc.Status; 429/503 carry Retry-After.
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { encodeExportResponse } from '../../common/otlp/index.js';
import { resolveTenant, TENANT_HEADER } from '../../common/model/index.js';
import { SkeinError, toSkeinError } from '../../common/errors/index.js';
import type { Logger } from '../../common/log/index.js';
import type { ExportFormat, ExportService } from './export-service.js';
import { encodeRpcStatus } from './rpc-status.js';

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);

export interface HttpReceiverOptions {
  readonly maxRequestBytes: number;
  readonly tenancyRequired: boolean;
  readonly service: ExportService;
  readonly logger: Logger;
}

const PROTOBUF_TYPES = ['application/x-protobuf', 'application/protobuf'];
const JSON_TYPE = 'application/json';

function formatOf(request: FastifyRequest): ExportFormat {
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  return type === JSON_TYPE ? 'json' : 'protobuf';
}

function sendError(reply: FastifyReply, format: ExportFormat, err: SkeinError): FastifyReply {
  if (err.retryAfterSeconds !== undefined) void reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfterSeconds))));
  const message = `${err.code}: ${err.message}`;
  if (format === 'json') return reply.code(err.httpStatus).type(JSON_TYPE).send(JSON.stringify({ code: err.grpcStatus, message }));
  return reply
    .code(err.httpStatus)
    .type('application/x-protobuf')
    .send(Buffer.from(encodeRpcStatus(err.grpcStatus, message)));
}

/** Builds the OTLP/HTTP app (not listening). */
export function buildOtlpHttpApp(options: HttpReceiverOptions): FastifyInstance {
  const app = Fastify({ loggerInstance: options.logger.child({ receiver: 'otlp-http' }) as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }), bodyLimit: options.maxRequestBytes });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser([...PROTOBUF_TYPES, JSON_TYPE], { parseAs: 'buffer', bodyLimit: options.maxRequestBytes }, (_req, body, done) => {
    done(null, body);
  });

  app.setErrorHandler((error: Error & { code?: string; statusCode?: number }, request, reply) => {
    const format = formatOf(request);
    let err: SkeinError;
    switch (error.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        err = new SkeinError('PAYLOAD_TOO_LARGE', `request body exceeds ${options.maxRequestBytes} bytes; send smaller batches (or raise --max-request-bytes)`);
        break;
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        err = new SkeinError('UNSUPPORTED_MEDIA_TYPE', `unsupported Content-Type ${JSON.stringify(request.headers['content-type'] ?? '')}; send application/x-protobuf or application/json`);
        break;
      case 'FST_ERR_CTP_EMPTY_TYPE':
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        err = new SkeinError('BAD_PAYLOAD', error.message);
        break;
      default:
        err = toSkeinError(error);
        if (err.code === 'INTERNAL' && error.statusCode !== undefined && error.statusCode < 500) err = new SkeinError('BAD_PAYLOAD', error.message);
    }
    options.service.refused('http', err.code);
    if (err.code === 'INTERNAL') request.log.error({ err: error }, 'OTLP/HTTP request failed');
    return sendError(reply, format, err);
  });

  app.post('/v1/traces', async (request, reply) => {
    const format = formatOf(request);
    const tenant = resolveTenant(request.headers[TENANT_HEADER], options.tenancyRequired);
    if (!tenant.ok) {
      options.service.refused('http', tenant.reason === 'missing' ? 'TENANT_REQUIRED' : 'INVALID_ARGUMENT');
      return sendError(reply, format, new SkeinError(tenant.reason === 'missing' ? 'TENANT_REQUIRED' : 'INVALID_ARGUMENT', tenant.message));
    }
    let body = request.body as Buffer | undefined;
    if (body === undefined) throw new SkeinError('BAD_PAYLOAD', 'empty request body; send an ExportTraceServiceRequest');
    const encoding = (request.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding === 'gzip' || encoding === 'deflate') {
      try {
        body = await (encoding === 'gzip' ? gunzip : inflate)(body, { maxOutputLength: options.maxRequestBytes });
      } catch (e) {
        if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
          throw new SkeinError('PAYLOAD_TOO_LARGE', `decompressed body exceeds ${options.maxRequestBytes} bytes; send smaller batches`);
        throw new SkeinError('BAD_PAYLOAD', `Content-Encoding ${encoding} but the body does not decompress: ${(e as Error).message}`);
      }
    } else if (encoding !== 'identity') {
      throw new SkeinError('UNSUPPORTED_MEDIA_TYPE', `unsupported Content-Encoding ${JSON.stringify(encoding)}; use gzip or none`);
    }
    const outcome = await options.service.export(tenant.tenant, body, format, 'http');
    if (format === 'json') {
      const response = outcome.rejectedSpans > 0 || outcome.errorMessage ? { partialSuccess: { rejectedSpans: String(outcome.rejectedSpans), errorMessage: outcome.errorMessage } } : {};
      return reply.code(200).type(JSON_TYPE).send(JSON.stringify(response));
    }
    return reply
      .code(200)
      .type('application/x-protobuf')
      .send(Buffer.from(encodeExportResponse({ rejectedSpans: outcome.rejectedSpans, errorMessage: outcome.errorMessage })));
  });
  return app;
}
