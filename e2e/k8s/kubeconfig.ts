// Kubeconfig files: built for the harness's own components (JSON — a subset of YAML, so every
// Kubernetes client reads it — with the certificates embedded, so the contents stand alone), and read
// back into what an HTTPS client needs. A kubeconfig from KUBECONFIG may be YAML, a list of files or
// point at other files; `kubectl config view --raw --minify --flatten -o json` turns any of those
// into one self-contained JSON document for its current context.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What an HTTPS client needs to talk to one API server as one user. */
export interface KubeAccess {
  readonly server: string;
  readonly caPem?: string;
  readonly certPem?: string;
  readonly keyPem?: string;
  readonly token?: string;
  readonly insecureSkipTlsVerify?: boolean;
}

const b64 = (pem: string): string => Buffer.from(pem, 'utf8').toString('base64');

export function buildKubeconfig(params: { name: string; server: string; caPem: string; user: string; certPem: string; keyPem: string }): string {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: params.name, cluster: { server: params.server, 'certificate-authority-data': b64(params.caPem) } }],
    users: [{ name: params.user, user: { 'client-certificate-data': b64(params.certPem), 'client-key-data': b64(params.keyPem) } }],
    contexts: [{ name: params.name, context: { cluster: params.name, user: params.user } }],
    'current-context': params.name,
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

interface KubeconfigJson {
  'current-context'?: string;
  clusters?: { name: string; cluster: Record<string, unknown> }[] | null;
  users?: { name: string; user: Record<string, unknown> }[] | null;
  contexts?: { name: string; context: { cluster: string; user?: string } }[] | null;
}

function fileOrData(entry: Record<string, unknown>, fileKey: string, dataKey: string, baseDir: string): string | undefined {
  const data = entry[dataKey];
  if (typeof data === 'string' && data !== '') return Buffer.from(data, 'base64').toString('utf8');
  const file = entry[fileKey];
  if (typeof file === 'string' && file !== '') return readFileSync(path.resolve(baseDir, file), 'utf8');
  return undefined;
}

/** The current context of a kubeconfig in JSON form; relative file references resolve against `baseDir`. */
export function accessFromKubeconfigJson(text: string, baseDir = process.cwd()): KubeAccess {
  const config = JSON.parse(text) as KubeconfigJson;
  const contextName = config['current-context'];
  const context = config.contexts?.find((c) => c.name === contextName)?.context;
  if (context === undefined) throw new Error(`kubeconfig has no current context (current-context: ${contextName ?? 'unset'})`);
  const cluster = config.clusters?.find((c) => c.name === context.cluster)?.cluster;
  if (cluster === undefined || typeof cluster['server'] !== 'string') throw new Error(`kubeconfig context ${contextName} names cluster ${context.cluster}, which has no server`);
  const user = config.users?.find((u) => u.name === context.user)?.user ?? {};
  if (user['exec'] !== undefined || user['auth-provider'] !== undefined) {
    throw new Error(`kubeconfig user ${context.user} authenticates through an exec plugin or auth provider, which this test client does not run; use a context with a client certificate or token`);
  }
  const token = typeof user['token'] === 'string' ? user['token'] : typeof user['tokenFile'] === 'string' ? readFileSync(path.resolve(baseDir, user['tokenFile']), 'utf8').trim() : undefined;
  return {
    server: cluster['server'].replace(/\/+$/, ''),
    caPem: fileOrData(cluster, 'certificate-authority', 'certificate-authority-data', baseDir),
    certPem: fileOrData(user, 'client-certificate', 'client-certificate-data', baseDir),
    keyPem: fileOrData(user, 'client-key', 'client-key-data', baseDir),
    token,
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
  };
}

/** Flattens whatever KUBECONFIG names (YAML, several files, file references) into one JSON document. */
export async function flattenKubeconfig(kubectl: string, kubeconfigEnv: string): Promise<string> {
  try {
    const { stdout } = await run(kubectl, ['config', 'view', '--raw', '--minify', '--flatten', '-o', 'json'], {
      env: { ...process.env, KUBECONFIG: kubeconfigEnv },
      timeout: 30_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    throw new Error(`could not read KUBECONFIG=${kubeconfigEnv} with ${kubectl}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}
