import { describe, it, expect } from 'vitest';
import { loadConfig, formatHelp, parseBytes } from './index.js';

describe('loadConfig', () => {
  const names = ['data-dir', 'shards', 'fsync', 'head-max-bytes', 'tenancy-required'] as const;
  it('applies defaults', () => {
    const r = loadConfig(names, [], {});
    expect(r).toMatchObject({ kind: 'ok', config: { 'data-dir': './data', shards: 4, fsync: 'batch', 'head-max-bytes': 1024 ** 3, 'tenancy-required': false } });
  });
  it.each([
    [['--shards', '16'], {}, { shards: 16 }],
    [[], { SKEIN_SHARDS: '8' }, { shards: 8 }],
    [['--shards', '2'], { SKEIN_SHARDS: '8' }, { shards: 2 }],
    [['--head-max-bytes', '512MiB'], {}, { 'head-max-bytes': 512 * 1024 ** 2 }],
    [['--tenancy-required'], {}, { 'tenancy-required': true }],
    [[], { SKEIN_TENANCY_REQUIRED: 'true' }, { 'tenancy-required': true }],
    [['--fsync=none'], {}, { fsync: 'none' }],
  ])('%j %j', (argv, env, want) => {
    const r = loadConfig(names, argv, env);
    expect(r.kind).toBe('ok');
    if (r.kind === 'ok') expect(r.config).toMatchObject(want);
  });
  it.each([
    [['--shards', '0'], /--shards/],
    [['--fsync', 'sometimes'], /--fsync.*SKEIN_FSYNC/],
    [['--head-max-bytes', 'lots'], /byte size/],
    [['--nope'], /--help/],
  ])('rejects %j naming the flag', (argv, re) => {
    const r = loadConfig(names, argv, {});
    expect(r.kind).toBe('error');
    if (r.kind === 'error') expect(r.message).toMatch(re);
  });
  it('help lists every flag with env var and default', () => {
    expect(loadConfig(names, ['--help'], {}).kind).toBe('help');
    const text = formatHelp('x', 'does x', names);
    for (const n of names) expect(text).toContain(`--${n}`);
    expect(text).toContain('SKEIN_HEAD_MAX_BYTES');
  });
  it('parses byte sizes', () => {
    expect(parseBytes('1KiB')).toBe(1024);
    expect(parseBytes('2 MB')).toBe(2e6);
    expect(parseBytes('x')).toBeUndefined();
  });
});

describe('agent flags', () => {
  const names = [
    'ingest-endpoint',
    'ingest-compression',
    'ingest-timeout-ms',
    'tenant',
    'agent-config',
    'jaeger-sampling-port',
    'admin-host',
    'queue-max-bytes',
    'batch-max-bytes',
    'batch-max-spans',
    'batch-max-delay-ms',
    'export-concurrency',
  ] as const;
  it('applies defaults', () => {
    const r = loadConfig(names, [], {});
    expect(r).toEqual({
      kind: 'ok',
      config: {
        'ingest-endpoint': 'skein-ingester:4317',
        'ingest-compression': 'gzip',
        'ingest-timeout-ms': 10_000,
        tenant: '',
        'agent-config': '',
        'jaeger-sampling-port': 5778,
        'admin-host': '',
        'queue-max-bytes': 32 * 1024 ** 2,
        'batch-max-bytes': 512 * 1024,
        'batch-max-spans': 8192,
        'batch-max-delay-ms': 1000,
        'export-concurrency': 4,
      },
    });
  });
  it.each([
    [['--ingest-endpoint', 'http://10.0.0.1:4317'], {}, { 'ingest-endpoint': 'http://10.0.0.1:4317' }],
    [[], { SKEIN_INGEST_ENDPOINT: 'skein-ingester.tracing:4317' }, { 'ingest-endpoint': 'skein-ingester.tracing:4317' }],
    [['--ingest-compression', 'none'], {}, { 'ingest-compression': 'none' }],
    [['--queue-max-bytes', '8MiB', '--batch-max-bytes=64KiB'], {}, { 'queue-max-bytes': 8 * 1024 ** 2, 'batch-max-bytes': 64 * 1024 }],
    [['--tenant', 'team-a'], {}, { tenant: 'team-a' }],
    [['--jaeger-sampling-port', '0'], {}, { 'jaeger-sampling-port': 0 }],
    [[], { SKEIN_EXPORT_CONCURRENCY: '1', SKEIN_BATCH_MAX_DELAY_MS: '0' }, { 'export-concurrency': 1, 'batch-max-delay-ms': 0 }],
  ])('%j %j', (argv, env, want) => {
    const r = loadConfig(names, argv, env);
    expect(r.kind).toBe('ok');
    if (r.kind === 'ok') expect(r.config).toMatchObject(want);
  });
  it.each([
    [['--ingest-compression', 'zstd'], /--ingest-compression/],
    [['--tenant', 'a/b'], /--tenant.*A-Z a-z/],
    [['--queue-max-bytes', 'lots'], /byte size/],
    [['--export-concurrency', '0'], /--export-concurrency/],
    [['--ingest-timeout-ms', '0'], /--ingest-timeout-ms/],
    [['--ingest-endpoint', ''], /--ingest-endpoint/],
  ])('rejects %j naming the flag', (argv, re) => {
    const r = loadConfig(names, argv, {});
    expect(r.kind).toBe('error');
    if (r.kind === 'error') expect(r.message).toMatch(re);
  });
});
