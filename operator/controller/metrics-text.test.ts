import { describe, expect, it } from 'vitest';
import { counter, createRegistry, gauge } from '../../common/metrics/index.js';
import { mergeExpositions } from './metrics-text.js';

describe('mergeExpositions', () => {
  it('keeps one HELP/TYPE per family and every sample of every registry', async () => {
    const root = createRegistry({ defaultMetrics: false });
    counter(root, 'skein_operator_reconciles_total', 'r', ['result']).inc({ result: 'success' });
    const regs = ['ns/a', 'ns/b'].map((key) => {
      const r = createRegistry({ defaultMetrics: false, labels: { tracingcluster: key } });
      gauge(r, 'skein_controller_leader', 'leader').set(key === 'ns/a' ? 1 : 0);
      return r;
    });
    const text = mergeExpositions([await root.metrics(), ...(await Promise.all(regs.map((r) => r.metrics())))]);
    expect(text.match(/# TYPE skein_controller_leader /g)).toHaveLength(1);
    expect(text.match(/# HELP skein_controller_leader /g)).toHaveLength(1);
    expect(text).toContain('skein_controller_leader{tracingcluster="ns/a"} 1');
    expect(text).toContain('skein_controller_leader{tracingcluster="ns/b"} 0');
    expect(text).toContain('skein_operator_reconciles_total{result="success"} 1');
    // Every sample follows its own family's TYPE line.
    const lines = text.trim().split('\n');
    const typeAt = lines.findIndex((l) => l.startsWith('# TYPE skein_controller_leader'));
    const sampleAts = lines.flatMap((l, i) => (l.startsWith('skein_controller_leader{') ? [i] : []));
    expect(sampleAts.every((i) => i > typeAt && i <= typeAt + 2)).toBe(true);
  });
});
