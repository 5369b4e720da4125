import { describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config/index.js';
import { AgentConfigSchema } from '../agent/index.js';
import { AGENT_FLAGS, buildAgentConfig, parseAgentFile, readAgentFile, type AgentFlags } from './agent.js';

function flags(argv: string[] = []): AgentFlags {
  const r = loadConfig(AGENT_FLAGS, argv, {});
  if (r.kind !== 'ok') throw new Error(r.kind === 'error' ? r.message : 'help');
  return r.config;
}

describe('skein agent configuration', () => {
  it('flags alone: the flag table defaults, everything else from AgentConfigSchema', () => {
    const r = buildAgentConfig(flags(), {});
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const schemaDefaults = AgentConfigSchema.parse({});
    // The flag table's defaults agree with the schema's where both have one.
    expect(r.value.exporter).toEqual(schemaDefaults.exporter);
    expect(r.value.queue).toEqual(schemaDefaults.queue);
    expect(r.value.batch).toEqual(schemaDefaults.batch);
    expect(r.value.receivers).toMatchObject({ host: '127.0.0.1', otlpGrpcPort: 4317, otlpHttpPort: 4318, jaegerSamplingPort: 5778 });
    expect(r.value.sampling).toEqual(schemaDefaults.sampling);
    expect(r.value.scrubbing).toEqual(schemaDefaults.scrubbing);
    expect(r.value.retry).toEqual(schemaDefaults.retry);
  });

  it('flags and file sections combine', () => {
    const file = parseAgentFile(
      JSON.stringify({
        sampling: { defaultProbability: 0.25, services: { checkout: { probability: 1, maxTracesPerSecond: 50 } } },
        scrubbing: { rules: [{ name: 'email', key: '^user\\.email$', action: 'redact' }] },
        retry: { initialBackoffMs: 100, maxBackoffMs: 1000, maxElapsedMs: 5000 },
      }),
      'agent.json',
    );
    expect(file.ok).toBe(true);
    if (!file.ok) return;
    const r = buildAgentConfig(flags(['--ingest-endpoint', 'http://ingest:4317', '--tenant', 'team-a', '--queue-max-bytes', '8MiB']), file.value);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.exporter).toMatchObject({ endpoint: 'http://ingest:4317', tenant: 'team-a' });
    expect(r.value.queue.maxBytes).toBe(8 * 1024 * 1024);
    expect(r.value.receivers.maxRequestBytes).toBe(8 * 1024 * 1024); // capped at the queue
    expect(r.value.sampling.defaultProbability).toBe(0.25);
    expect(r.value.sampling.services['checkout']).toMatchObject({ probability: 1, maxTracesPerSecond: 50 });
    expect(r.value.scrubbing.rules.map((x) => x.name)).toEqual(['email']);
    expect(r.value.retry).toEqual({ initialBackoffMs: 100, maxBackoffMs: 1000, maxElapsedMs: 5000 });
  });

  it.each([
    ['{', /not valid JSON/],
    ['[]', /expected a JSON object/],
    ['{"queue": {"maxBytes": 1}}', /unknown section "queue".*flags/],
    ['{"sampling": {}, "exporter": {}}', /unknown section "exporter"/],
  ])('file %j is refused with a clear message', (text, re) => {
    const r = parseAgentFile(text, 'agent.json');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(re);
  });

  it.each([
    [{ sampling: { defaultProbability: 2 } }, [], /sampling\.defaultProbability/],
    [{ sampling: { services: { a: { probabilty: 0.5 } } } }, [], /sampling\.services\.a/],
    [{ scrubbing: { rules: [{ name: 'x', key: '(', action: 'redact' }] } }, [], /scrubbing\.rules\.0\.key: not a valid JavaScript regular expression/],
    [{ scrubbing: { rules: [{ name: 'h', key: 'email', action: 'hash' }] } }, [], /scrubbing\.hashKey/],
    [{}, ['--ingest-endpoint', 'ftp://x:1'], /--ingest-endpoint: .*scheme/],
  ])('invalid configuration %j %j names the setting', (file, argv, re) => {
    const r = buildAgentConfig(flags(argv), file);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(re);
  });
});

describe('--agent-config inline JSON (injected sidecars)', () => {
  it('reads the sections from the flag value itself when it starts with "{"', () => {
    const r = readAgentFile(' {"sampling":{"defaultProbability":0.25},"scrubbing":{"rules":[]}}');
    expect(r).toEqual({ ok: true, value: { sampling: { defaultProbability: 0.25 }, scrubbing: { rules: [] } } });
  });

  it('names the inline source in its errors', () => {
    const r = readAgentFile('{"sampling":');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/^--agent-config \(inline JSON\): not valid JSON/);
  });
});
