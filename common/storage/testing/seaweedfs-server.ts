// A real S3-compatible server for the S3 conformance suite: SeaweedFS (`weed server -s3`: master,
// volume server, filer and S3 gateway in one process) on 127.0.0.1, free ports, a temp data dir,
// started as a child process and stopped by PID. The binary comes from scripts/ensure-s3.sh (built
// once from its Go module into ~/.cache/skein); a missing binary is an error naming the fix, never
// a skip. Two identities: `admin` (creates buckets for the test) and `skein` (read/write/list only,
// what a Skein deployment needs; SeaweedFS auto-creates buckets for admin identities, which would
// hide a missing-bucket error).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CreateBucketCommand, ListBucketsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort } from '../../proc/index.js';

export interface S3Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export interface S3TestServer {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly region: string;
  /** Read/write/list on every bucket; cannot create buckets. */
  readonly credentials: S3Credentials;
  pid(): number;
  /** Creates a bucket (as the admin identity). */
  createBucket(name: string): Promise<void>;
  /** SIGSTOP: sockets stay open, nothing answers (a hung server). */
  pause(): void;
  resume(): void;
  /** Kills it (SIGKILL: a test server holds nothing worth a clean shutdown) and removes its data. */
  stop(): Promise<void>;
  logs(): string;
}

const REGION = 'us-east-1';
const USER: S3Credentials = { accessKeyId: 'skein-test', secretAccessKey: 'skein-test-secret-key' };
const ADMIN: S3Credentials = { accessKeyId: 'skein-admin', secretAccessKey: 'skein-admin-secret-key' };
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** `SKEIN_WEED_BIN`, else what `scripts/ensure-s3.sh --check` reports (it fails naming the fix). */
export async function findWeedBinary(): Promise<string> {
  const pinned = process.env['SKEIN_WEED_BIN'];
  if (pinned !== undefined && pinned !== '') return pinned;
  try {
    const { stdout } = await promisify(execFile)(path.join(repoRoot, 'scripts/ensure-s3.sh'), ['--check'], { timeout: 30_000 });
    return stdout.trim().split('\n').at(-1)!;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`SeaweedFS (the S3 server for the object-store tests) is not installed: ${stderr || String(error)}\nRun \`make s3\` (scripts/ensure-s3.sh) once, or set SKEIN_WEED_BIN.`);
  }
}

export async function startSeaweedFs(options: { timeoutMs?: number } = {}): Promise<S3TestServer> {
  const binary = await findWeedBinary();
  const dir = await mkdtemp(path.join(tmpdir(), 'skein-s3-'));
  const ports = {
    master: await freePort(),
    masterGrpc: await freePort(),
    volume: await freePort(),
    volumeGrpc: await freePort(),
    filer: await freePort(),
    filerGrpc: await freePort(),
    s3: await freePort(),
    s3Grpc: await freePort(),
  };
  const identity = (name: string, c: S3Credentials, actions: string[]): object => ({ name, credentials: [{ accessKey: c.accessKeyId, secretKey: c.secretAccessKey }], actions });
  await writeFile(path.join(dir, 's3.json'), JSON.stringify({ identities: [identity('admin', ADMIN, ['Admin', 'Read', 'Write', 'List', 'Tagging']), identity('skein', USER, ['Read', 'Write', 'List'])] }));
  const args = [
    'server',
    `-dir=${path.join(dir, 'data')}`,
    '-ip=127.0.0.1',
    '-ip.bind=127.0.0.1',
    `-master.port=${ports.master}`,
    `-master.port.grpc=${ports.masterGrpc}`,
    '-master.telemetry=false',
    '-master.volumeSizeLimitMB=64',
    '-volume.max=32',
    `-volume.port=${ports.volume}`,
    `-volume.port.grpc=${ports.volumeGrpc}`,
    '-filer',
    `-filer.port=${ports.filer}`,
    `-filer.port.grpc=${ports.filerGrpc}`,
    `-filer.localSocket=${path.join(dir, 'filer.sock')}`,
    '-s3',
    `-s3.port=${ports.s3}`,
    `-s3.port.grpc=${ports.s3Grpc}`,
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
    `-s3.localSocket=${path.join(dir, 's3.sock')}`,
    `-s3.config=${path.join(dir, 's3.json')}`,
  ];
  await mkdir(path.join(dir, 'data'));
  const endpoint = `http://127.0.0.1:${ports.s3}`;
  const logs: string[] = [];
  const child: ChildProcess = spawn(binary, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.setEncoding('utf8').on('data', (c: string) => logs.push(c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => logs.push(c));
  const admin = new S3Client({ endpoint, region: REGION, forcePathStyle: true, credentials: ADMIN, maxAttempts: 1 });

  const stop = async (): Promise<void> => {
    admin.destroy();
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
    // weed puts its gRPC unix sockets in /tmp under names made of our ports; they are ours to remove.
    const sockets = [
      `master-grpc-${ports.masterGrpc}`,
      `volume-grpc-${ports.volumeGrpc}`,
      `filer-grpc-${ports.filerGrpc}`,
      `s3-grpc-${ports.s3Grpc}`,
    ];
    await Promise.all(sockets.map((s) => rm(`/tmp/seaweedfs-${s}.sock`, { force: true })));
  };

  try {
    // Ready when the S3 gateway answers a signed request, then when a write lands: a fresh master
    // defers its first volume allocation by a few seconds, and that wait belongs to startup, not to
    // whichever test happens to write first.
    const timeoutMs = options.timeoutMs ?? 60_000;
    const until = Date.now() + timeoutMs;
    const attempt = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      for (;;) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`weed exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${logs.join('')}`);
        try {
          await fn();
          return;
        } catch (error) {
          if (Date.now() > until) throw new Error(`weed: ${what} failed for ${timeoutMs} ms (${String(error)}):\n${logs.join('').slice(-4000)}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    await attempt('S3 gateway answering', () => admin.send(new ListBucketsCommand({}), { abortSignal: AbortSignal.timeout(1000) }));
    await attempt('creating the warm-up bucket', () =>
      admin.send(new CreateBucketCommand({ Bucket: 'skein-warm-up' }), { abortSignal: AbortSignal.timeout(5000) }).catch((error: unknown) => {
        if (error instanceof Error && error.name === 'BucketAlreadyOwnedByYou') return; // an earlier attempt landed
        throw error;
      }),
    );
    await attempt('first write', () => admin.send(new PutObjectCommand({ Bucket: 'skein-warm-up', Key: 'ready', Body: 'ready' }), { abortSignal: AbortSignal.timeout(30_000) }));
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    endpoint,
    region: REGION,
    credentials: USER,
    pid: () => child.pid!,
    createBucket: async (name) => {
      await admin.send(new CreateBucketCommand({ Bucket: name }));
    },
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
    stop,
    logs: () => logs.join(''),
  };
}
