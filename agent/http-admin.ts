// The agent's two small HTTP apps (built here, listened on by agent.ts):
//
// - admin (--admin-host/--admin-port): `/healthz` (liveness: the process answers), `/readyz`
//   (readiness: receivers listening and not shutting down — deliberately not tied to the ingest
//   endpoint, since the agent keeps answering the app, and dropping, while ingest is away) and
//   `/metrics` (Prometheus text);
// - Jaeger remote sampling (--jaeger-sampling-port, 5778 as the Jaeger agent): `GET /sampling?service=`
//   and the legacy `GET /?service=`, answering computeJaegerStrategy for that service from the
//   sampling config the agent itself samples with (jaeger-idl proto/api_v2/sampling.proto, JSON).
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Registry } from '../common/metrics/index.js';
import { computeJaegerStrategy, type SamplingConfig } from './sampling-config.js';

export interface AgentAdminAppOptions {
  readonly registry: Registry;
  /** True while the agent accepts spans. */
  readonly ready: () => boolean;
}

export function buildAgentAdminApp(options: AgentAdminAppOptions): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/healthz', async (_req, reply) => reply.type('text/plain').send('ok\n'));
  app.get('/readyz', async (_req, reply) => {
    const ready = options.ready();
    return reply
      .code(ready ? 200 : 503)
      .type('text/plain')
      .send(ready ? 'ready\n' : 'not ready: starting or shutting down\n');
  });
  app.get('/metrics', async (_req, reply) => reply.type(options.registry.contentType).send(await options.registry.metrics()));
  return app;
}

export interface JaegerSamplingAppOptions {
  /** The sampling config in force (it changes when the policy is reloaded). */
  readonly sampling: () => SamplingConfig;
}

export function buildJaegerSamplingApp(options: JaegerSamplingAppOptions): FastifyInstance {
  const app = Fastify({ logger: false });
  const answer = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const service = (request.query as Record<string, unknown>)['service'];
    if (typeof service !== 'string' || service === '') {
      return reply
        .code(400)
        .type('text/plain')
        .send("'service' parameter must be given once: GET /sampling?service=<service name>\n");
    }
    return reply.type('application/json').send(JSON.stringify(computeJaegerStrategy(options.sampling(), service)));
  };
  app.get('/sampling', answer);
  app.get('/', answer);
  return app;
}
