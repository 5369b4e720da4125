// A deliberately small Kubernetes REST client for the harness and its tests: one HTTPS agent with
// the kubeconfig's CA and client certificate (or bearer token), JSON in and out, and the HTTP status
// returned rather than thrown, so a test can assert on a rejection (422, 409, 404) as easily as on
// success. It stands in until @kubernetes/client-node is a dependency; the operator's kube/ module
// will sit on that instead.
import https from 'node:https';
import type { KubeAccess } from './kubeconfig.js';

export interface KubeResponse<T = any> {
  readonly status: number;
  readonly body: T;
}

export interface KubeRequestOptions {
  readonly body?: unknown;
  readonly query?: Record<string, string>;
  /** Default application/json; PATCH callers pick merge-patch, strategic-merge or apply-patch. */
  readonly contentType?: string;
  readonly timeoutMs?: number;
}

export interface KubeClient {
  readonly server: string;
  request<T = any>(method: string, path: string, options?: KubeRequestOptions): Promise<KubeResponse<T>>;
  /** Like request, but a status outside 2xx is an error carrying the API's Status message. */
  expectOk<T = any>(method: string, path: string, options?: KubeRequestOptions): Promise<T>;
  /** Server-side apply (`application/apply-patch+yaml`; JSON is YAML) under one field manager. */
  apply<T = any>(path: string, object: unknown, options: { fieldManager: string; force?: boolean }): Promise<KubeResponse<T>>;
  close(): void;
}

export class KubeApiError extends Error {
  readonly code = 'KUBE_API_ERROR';
  readonly retryable: boolean;
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: unknown,
  ) {
    const message = typeof body === 'object' && body !== null && 'message' in body ? String((body as { message: unknown }).message) : JSON.stringify(body);
    super(`${method} ${path} → ${status}: ${message}`);
    this.retryable = status === 429 || status >= 500;
  }
}

export function createKubeClient(access: KubeAccess): KubeClient {
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: 16,
    ca: access.caPem,
    cert: access.certPem,
    key: access.keyPem,
    rejectUnauthorized: access.insecureSkipTlsVerify !== true,
  });
  const request = async <T>(method: string, path: string, options: KubeRequestOptions = {}): Promise<KubeResponse<T>> => {
    const url = new URL(access.server + path);
    for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v);
    const payload = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload !== undefined) {
      headers['content-type'] = options.contentType ?? 'application/json';
      // Node frames GET/DELETE bodies only with an explicit length; without it a DELETE's options
      // would be read as the start of the next request on the kept-alive connection.
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    if (access.token !== undefined) headers['authorization'] = `Bearer ${access.token}`;
    return new Promise((resolve, reject) => {
      const req = https.request(url, { method, agent, headers, signal: AbortSignal.timeout(options.timeoutMs ?? 15_000) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text === '' ? undefined : JSON.parse(text);
          } catch {
            // plain text (e.g. /readyz)
          }
          resolve({ status: res.statusCode ?? 0, body: body as T });
        });
      });
      req.on('error', reject);
      req.end(payload);
    });
  };
  const expectOk = async <T>(method: string, path: string, options?: KubeRequestOptions): Promise<T> => {
    const res = await request<T>(method, path, options);
    if (res.status < 200 || res.status > 299) throw new KubeApiError(method, path, res.status, res.body);
    return res.body;
  };
  return {
    server: access.server,
    request,
    expectOk,
    apply: (path, object, options) =>
      request('PATCH', path, {
        body: object,
        contentType: 'application/apply-patch+yaml',
        query: { fieldManager: options.fieldManager, ...(options.force === true ? { force: 'true' } : {}) },
      }),
    close: () => agent.destroy(),
  };
}
