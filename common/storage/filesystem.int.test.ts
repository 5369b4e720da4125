// Fault test for the filesystem backend (STYLE.md "Tests"): a child process overwrites and creates
// multi-MiB objects in a loop and is killed with SIGKILL mid-stream, several times, on the same
// root. After each kill every object is a whole version (never a prefix or a mix), every
// acknowledged put is there (or a later version of it), temp files the kill left are invisible, and
// reopening with no grace period removes them.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createFilesystemObjectStore } from './filesystem.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Object length for version v: varies, so a torn overwrite could not pass as whole. */
const lengthOf = (v: number): number => 1024 * 1024 + ((v * 7919) % 65_536);

// Runs the store's TypeScript source directly (Node strips types); the hook maps the `.js`
// specifiers of our ESM sources to their `.ts` files.
const WRITER = `
import { registerHooks } from 'node:module';
registerHooks({
  resolve(specifier, context, next) {
    try { return next(specifier, context); } catch (error) {
      if (specifier.startsWith('.') && specifier.endsWith('.js')) return next(specifier.slice(0, -3) + '.ts', context);
      throw error;
    }
  },
});
const { createFilesystemObjectStore } = await import(process.env.STORE_MODULE);
const store = await createFilesystemObjectStore({ root: process.env.ROOT });
const lengthOf = ${lengthOf.toString()};
for (let v = Number(process.env.FIRST_VERSION); ; v++) {
  const key = 'k/' + (v % 6);
  const body = new Uint8Array(lengthOf(v)).fill(v % 256);
  new DataView(body.buffer).setUint32(0, v, true);
  process.stdout.write('start ' + key + ' ' + v + '\\n');
  await store.put(key, body);
  process.stdout.write('acked ' + key + ' ' + v + '\\n');
}
`;

interface Round {
  acked: Map<string, number>;
  started: number;
}

async function runAndKill(root: string, firstVersion: number, acksBeforeKill: number): Promise<Round> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', WRITER], {
    env: { ...process.env, ROOT: root, STORE_MODULE: path.join(here, 'filesystem.ts'), FIRST_VERSION: String(firstVersion) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const round: Round = { acked: new Map(), started: firstVersion };
  let acks = 0;
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let buffered = '';
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`writer exited early (${code ?? signal}):\n${stderr}`)));
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const [kind, key, v] = line.split(' ');
        if (kind === 'acked') {
          round.acked.set(key!, Number(v));
          acks++;
        }
        if (kind === 'start') {
          round.started = Math.max(round.started, Number(v));
          // Kill as a put begins: it is opening, writing or syncing its file right now.
          if (acks >= acksBeforeKill) {
            child.kill('SIGKILL');
            resolve();
          }
        }
      }
    });
  });
  await exited;
  return round;
}

async function tempFilesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && e.name.startsWith('.~skein-')).map((e) => e.name);
}

describe('filesystem object store under SIGKILL', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'skein-fs-crash-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('objects are whole, acknowledged puts survive, leftovers are invisible and swept', async () => {
    const lastAcked = new Map<string, number>();
    let nextVersion = 1;
    for (const acksBeforeKill of [3, 7, 13, 20, 9, 5, 11, 2]) {
      const round = await runAndKill(root, nextVersion, acksBeforeKill);
      for (const [k, v] of round.acked) lastAcked.set(k, v);
      nextVersion = round.started + 1;

      const store = await createFilesystemObjectStore({ root }); // default grace: young temp files stay…
      const listed = await store.list('');
      expect(listed.map((o) => o.key).every((k) => /^k\/[0-5]$/.test(k))).toBe(true); // …but are never listed
      for (const { key, size } of listed) {
        const body = await store.get(key);
        expect(body.length).toBe(size);
        const v = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(0, true);
        expect(v).toBeLessThanOrEqual(round.started);
        expect(body.length, `${key} v${v} is whole`).toBe(lengthOf(v));
        expect(body.subarray(4).every((b) => b === v % 256), `${key} v${v} is not mixed`).toBe(true);
        expect(v).toBeGreaterThanOrEqual(lastAcked.get(key) ?? 0);
      }
      for (const key of lastAcked.keys()) expect(listed.map((o) => o.key)).toContain(key);
      await store.close();
      await createFilesystemObjectStore({ root, tempFileGraceMs: 0 });
      expect(await tempFilesUnder(root)).toEqual([]);
    }
  });
});
