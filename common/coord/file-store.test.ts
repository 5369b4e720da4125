// The file-backed twin: passes the coordinator conformance suite, and a reopened store holds what
// was committed (lease-bound keys excepted) with revisions that keep growing.
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';
import { del, ifAbsent, put, valueText } from './coordinator.js';
import { openFileBackedStore } from './file-store.js';
import { describeCoordinatorConformance } from './testing/conformance.js';

const root = mkdtempSync(path.join(tmpdir(), 'skein-file-store-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshFile = (): string => path.join(root, `s${n++}`, 'coordinator.jsonl');

describeCoordinatorConformance('file-backed memory', () => {
  const clock = new ManualClock();
  const opened = openFileBackedStore({ file: freshFile(), clock });
  const store = opened.store;
  return {
    connect: () => store.connect(),
    sleep: (ms) => clock.advance(ms),
    pause: () => store.setReachable(false),
    resume: () => store.setReachable(true),
    restart: () => store.restart(),
    ttlSeconds: 1,
    close: () => opened.close(),
  };
});

describe('file-backed store across restarts', () => {
  it('restores unleased keys with their revisions; leased keys are gone; revisions keep growing', async () => {
    const file = freshFile();
    const first = openFileBackedStore({ file });
    const c = first.store.connect();
    const lease = await c.grantLease(30);
    await c.txn({ compare: [ifAbsent('/a')], success: [put('/a', 'one')] });
    await c.txn({ compare: [], success: [put('/b', 'two'), put('/owner', 'me', lease.id)] });
    await c.txn({ compare: [], success: [put('/a', 'three')] });
    await c.txn({ compare: [], success: [del('/b')] });
    const a = (await c.get('/a')).kv!;
    const revision = first.store.revision;
    lease.abandon();
    await c.close();
    first.close();

    const second = openFileBackedStore({ file });
    expect(second.report).toMatchObject({ keys: 1, revision, droppedTornTail: false });
    const c2 = second.store.connect();
    const all = (await c2.range('/')).entries;
    expect(all.map((kv) => [kv.key, valueText(kv), kv.createRevision, kv.modRevision, kv.version])).toEqual([['/a', 'three', a.createRevision, a.modRevision, 2]]);
    const r = await c2.txn({ compare: [ifAbsent('/owner')], success: [put('/owner', 'next')] });
    expect(r.kind).toBe('committed');
    expect((await c2.get('/owner')).kv!.createRevision).toBeGreaterThan(revision);
    await c2.close();
    second.close();
    // Opening compacted the journal into one snapshot line after the header.
    const third = openFileBackedStore({ file });
    third.close();
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('drops a torn last line, refuses a corrupt line in the middle', async () => {
    const file = freshFile();
    const s = openFileBackedStore({ file });
    const c = s.store.connect();
    await c.txn({ compare: [], success: [put('/k', 'v')] });
    await c.close();
    s.close();
    appendFileSync(file, '{"r":99,"put":[{"k":"/torn"');
    const again = openFileBackedStore({ file });
    expect(again.report.droppedTornTail).toBe(true);
    expect((await again.store.connect().get('/torn')).kv).toBeUndefined();
    expect(valueText((await again.store.connect().get('/k')).kv!)).toBe('v');
    again.close();
    const lines = readFileSync(file, 'utf8').split('\n');
    writeFileSync(file, [lines[0], 'not json', lines[1], ''].join('\n'));
    expect(() => openFileBackedStore({ file })).toThrow(/corrupt at line 2.*move it aside/);
  });

  it('any sequence of committed txns reads back identically after a reopen (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ key: fc.constantFrom('/x/a', '/x/b', '/x/c', '/x/ü'), value: fc.string({ maxLength: 8 }), remove: fc.boolean() }), { maxLength: 25 }),
        async (steps) => {
          const file = freshFile();
          const s = openFileBackedStore({ file });
          const c = s.store.connect();
          for (const step of steps) await c.txn({ compare: [], success: [step.remove ? del(step.key) : put(step.key, step.value)] });
          const before = (await c.range('/x/')).entries;
          await c.close();
          s.close();
          const t = openFileBackedStore({ file });
          const after = (await t.store.connect().range('/x/')).entries;
          t.close();
          expect(after).toEqual(before);
        },
      ),
      { numRuns: 40 },
    );
  });
});
