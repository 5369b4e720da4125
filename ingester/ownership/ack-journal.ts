// Which (shard, token) acknowledged writes and when, for GET /debug/ownership. Fault tests compare
// these windows across members: two members must never acknowledge the same shard at the same time
// under different tokens (DESIGN.md §10). Wall-clock (Date.now) times, so journals of different
// processes can be lined up.

export interface AckWindow {
  readonly shard: number;
  readonly token: number;
  readonly firstAckMs: number;
  readonly lastAckMs: number;
  readonly acks: number;
}

/** Bounded: a long-lived member sees many tokens; the oldest windows are dropped first. */
export class AckJournal {
  readonly #max: number;
  readonly #windows = new Map<string, { shard: number; token: number; firstAckMs: number; lastAckMs: number; acks: number }>();

  constructor(maxWindows = 4096) {
    this.#max = maxWindows;
  }

  record(shard: number, token: number, nowMs: number): void {
    const key = `${shard}/${token}`;
    const w = this.#windows.get(key);
    if (w !== undefined) {
      w.lastAckMs = Math.max(w.lastAckMs, nowMs);
      w.acks++;
      return;
    }
    if (this.#windows.size >= this.#max) this.#windows.delete(this.#windows.keys().next().value!);
    this.#windows.set(key, { shard, token, firstAckMs: nowMs, lastAckMs: nowMs, acks: 1 });
  }

  windows(): AckWindow[] {
    return [...this.#windows.values()].map((w) => ({ ...w })).sort((a, b) => a.shard - b.shard || a.token - b.token);
  }
}
