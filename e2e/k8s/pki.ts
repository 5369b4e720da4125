// The test cluster's certificates. Node can parse X.509 but not issue it, so certificates come from the
// `openssl` CLI (OpenSSL ≥ 1.1.1, on every Debian/Ubuntu and macOS with Homebrew) with our own minimal
// config files, so the machine's openssl.cnf does not matter. Keys are P-256 (fast to generate).
// The service-account signing key pair needs no certificate, so node:crypto makes it.
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertPair {
  readonly certFile: string;
  readonly keyFile: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export interface Pki {
  readonly caFile: string;
  readonly caKeyFile: string;
  readonly caPem: string;
  /** kube-apiserver's serving certificate (127.0.0.1, localhost and the in-cluster names). */
  readonly apiserver: CertPair;
  /** Client certificates: CN is the user name, O the groups (RFC 5280 subject → Kubernetes user). */
  readonly admin: CertPair;
  readonly controllerManager: CertPair;
  readonly scheduler: CertPair;
  readonly kwok: CertPair;
  /** Service-account token signing key (private, PKCS#8) and its public key (SPKI). */
  readonly serviceAccountKeyFile: string;
  readonly serviceAccountPubFile: string;
}

const REQ_CONFIG = '[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = skein-test-ca\n[ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier = hash\n';

async function openssl(args: readonly string[], cwd: string): Promise<void> {
  try {
    await run('openssl', [...args], { cwd, timeout: 30_000 });
  } catch (error) {
    const detail = error instanceof Error && 'stderr' in error ? String((error as { stderr: unknown }).stderr) : String(error);
    throw new Error(`openssl ${args[0]} failed (the Kubernetes test environment needs the openssl CLI): ${detail}`, { cause: error });
  }
}

async function issue(dir: string, name: string, subject: string, extensions: string): Promise<CertPair> {
  const keyFile = path.join(dir, `${name}.key`);
  const certFile = path.join(dir, `${name}.crt`);
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  await writeFile(ext, `basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\nauthorityKeyIdentifier = keyid\n${extensions}\n`);
  await openssl(['req', '-new', '-config', 'req.cnf', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', subject], dir);
  await openssl(['x509', '-req', '-in', csr, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', `0x${randomBytes(12).toString('hex')}`, '-days', '30', '-extfile', ext, '-out', certFile], dir);
  return { certFile, keyFile, certPem: await readFile(certFile, 'utf8'), keyPem: await readFile(keyFile, 'utf8') };
}

export async function createPki(dir: string, options: { serviceIp: string }): Promise<Pki> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'req.cnf'), REQ_CONFIG);
  await openssl(['req', '-x509', '-config', 'req.cnf', '-extensions', 'ca', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '30'], dir);
  const client = 'extendedKeyUsage = clientAuth';
  const names = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];
  const [apiserver, admin, controllerManager, scheduler, kwok] = await Promise.all([
    issue(dir, 'apiserver', '/CN=kube-apiserver', `extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1,IP:${options.serviceIp},${names.map((n) => `DNS:${n}`).join(',')}`),
    issue(dir, 'admin', '/O=system:masters/CN=skein-test-admin', client),
    issue(dir, 'controller-manager', '/CN=system:kube-controller-manager', client),
    issue(dir, 'scheduler', '/CN=system:kube-scheduler', client),
    // kwok writes node and pod status, leases and events, like kwokctl's setup it acts as an admin.
    issue(dir, 'kwok', '/O=system:masters/CN=kwok-controller', client),
  ]);
  const sa = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const serviceAccountKeyFile = path.join(dir, 'sa.key');
  const serviceAccountPubFile = path.join(dir, 'sa.pub');
  await writeFile(serviceAccountKeyFile, sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await writeFile(serviceAccountPubFile, sa.publicKey.export({ type: 'spki', format: 'pem' }));
  return {
    caFile: path.join(dir, 'ca.crt'),
    caKeyFile: path.join(dir, 'ca.key'),
    caPem: await readFile(path.join(dir, 'ca.crt'), 'utf8'),
    apiserver,
    admin,
    controllerManager,
    scheduler,
    kwok,
    serviceAccountKeyFile,
    serviceAccountPubFile,
  };
}
