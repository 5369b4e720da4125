// Reading kubeconfigs into client access: the harness's own (embedded data) and the shapes kubectl
// flattens other clusters' into (file references, tokens), plus the ones the small client refuses.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { accessFromKubeconfigJson, buildKubeconfig } from './index.js';

const dir = mkdtempSync(path.join(tmpdir(), 'skein-kubeconfig-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = (cluster: object, user: object, current = 'c'): string =>
  JSON.stringify({ clusters: [{ name: 'k', cluster }], users: [{ name: 'u', user }], contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }], 'current-context': current });

describe('accessFromKubeconfigJson', () => {
  it('round-trips what buildKubeconfig writes', () => {
    const text = buildKubeconfig({ name: 'skein-test', server: 'https://127.0.0.1:6443', caPem: 'CA', user: 'admin', certPem: 'CERT', keyPem: 'KEY' });
    expect(accessFromKubeconfigJson(text)).toEqual({ server: 'https://127.0.0.1:6443', caPem: 'CA', certPem: 'CERT', keyPem: 'KEY', token: undefined, insecureSkipTlsVerify: false });
  });

  it('reads file references relative to the kubeconfig and bearer tokens', () => {
    writeFileSync(path.join(dir, 'ca.crt'), 'CA-FROM-FILE');
    writeFileSync(path.join(dir, 'token'), 'tok-from-file\n');
    const cases: { cluster: object; user: object; want: object }[] = [
      { cluster: { server: 'https://k:443/', 'certificate-authority': 'ca.crt' }, user: { token: 't0' }, want: { server: 'https://k:443', caPem: 'CA-FROM-FILE', token: 't0' } },
      { cluster: { server: 'https://k', 'insecure-skip-tls-verify': true }, user: { tokenFile: 'token' }, want: { server: 'https://k', token: 'tok-from-file', insecureSkipTlsVerify: true } },
    ];
    for (const c of cases) expect(accessFromKubeconfigJson(config(c.cluster, c.user), dir)).toMatchObject(c.want);
  });

  it('refuses what it cannot serve, saying why', () => {
    const cases: { text: string; error: RegExp }[] = [
      { text: config({ server: 'https://k' }, { exec: { command: 'aws' } }), error: /exec plugin/ },
      { text: config({ server: 'https://k' }, {}, 'other'), error: /no current context/ },
      { text: config({}, {}), error: /has no server/ },
    ];
    for (const c of cases) expect(() => accessFromKubeconfigJson(c.text, dir)).toThrow(c.error);
  });
});
