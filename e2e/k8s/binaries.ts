// Where the control-plane binaries are: SKEIN_K8S_BIN when set, else the versioned cache dir that
// scripts/ensure-k8s.sh (the one place the versions are pinned) reports. The harness never builds —
// a first build takes tens of minutes, far beyond a test hook — so a missing binary is an error that
// names the fix, never a skip.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ENSURE_K8S_SCRIPT = path.join(ROOT, 'scripts', 'ensure-k8s.sh');

export interface KubeBinaries {
  readonly dir: string;
  readonly etcd: string;
  readonly kubeApiserver: string;
  readonly kubeControllerManager: string;
  readonly kubeScheduler: string;
  readonly kubectl: string;
  readonly kwok: string;
  /** KWOK's default node and pod stages, from the same KWOK module version. */
  readonly kwokStages: string;
}

function inDir(dir: string): KubeBinaries {
  const bins: KubeBinaries = {
    dir,
    etcd: path.join(dir, 'etcd'),
    kubeApiserver: path.join(dir, 'kube-apiserver'),
    kubeControllerManager: path.join(dir, 'kube-controller-manager'),
    kubeScheduler: path.join(dir, 'kube-scheduler'),
    kubectl: path.join(dir, 'kubectl'),
    kwok: path.join(dir, 'kwok'),
    kwokStages: path.join(dir, 'kwok-stages.yaml'),
  };
  const missing = Object.entries(bins).filter(([key, file]) => key !== 'dir' && !existsSync(file));
  if (missing.length > 0) throw new Error(`missing in ${dir}: ${missing.map(([, f]) => path.basename(f)).join(', ')} — run scripts/ensure-k8s.sh (make k8s)`);
  return bins;
}

export async function findKubeBinaries(binDir = process.env['SKEIN_K8S_BIN']): Promise<KubeBinaries> {
  if (binDir !== undefined && binDir !== '') return inDir(binDir);
  try {
    const { stdout } = await run(ENSURE_K8S_SCRIPT, ['--check'], { timeout: 60_000 });
    return inDir(stdout.trim().split('\n').pop()!);
  } catch (error) {
    const stderr = error instanceof Error && 'stderr' in error ? String((error as { stderr: unknown }).stderr).trim() : '';
    throw new Error(`Kubernetes test binaries are not built: ${stderr || String(error)}\nRun scripts/ensure-k8s.sh (or make k8s) once; it caches them outside the repo.`, { cause: error });
  }
}

/** kubectl for reading a KUBECONFIG: the cached one when built, else the one on PATH. */
export async function findKubectl(): Promise<string> {
  try {
    return (await findKubeBinaries()).kubectl;
  } catch {
    return 'kubectl';
  }
}
