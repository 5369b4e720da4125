// The client half of a lease, shared by both implementations: the keep-alive loop and the local
// deadline (DESIGN.md §5 "Holding"). The deadline moves only on an ACKNOWLEDGED keep-alive and is
// measured from when that keep-alive was SENT, so a slow or silent server can only make the holder
// give up early, never late. Never relies on a client library's own "lost" event.
import type { Clock } from './clock.js';
import type { Lease, LeaseId, LeaseState } from './coordinator.js';

export interface LeaseTransport {
  /** One keep-alive round trip: resolves with the TTL the server granted (0 = lease gone), rejects on any failure. */
  keepAlive(id: LeaseId): Promise<number>;
  revoke(id: LeaseId): Promise<void>;
}

export interface KeptLeaseOptions {
  readonly id: LeaseId;
  readonly ttlSeconds: number;
  /** Clock reading taken just before the grant request was sent. */
  readonly grantSentAt: number;
  readonly clock: Clock;
  readonly transport: LeaseTransport;
  readonly marginMs?: number | undefined;
  readonly keepAliveIntervalMs?: number | undefined;
  /** Called with the round-trip time of every acknowledged keep-alive. */
  readonly onKeepAlive?: ((latencyMs: number) => void) | undefined;
  /** Called once when the lease stops being kept (expired, revoked or abandoned). */
  readonly onStop?: (lease: KeptLease) => void;
}

export function defaultMarginMs(ttlSeconds: number): number {
  return Math.min(1000, ttlSeconds * 200);
}

export class KeptLease implements Lease {
  readonly id: LeaseId;
  readonly ttlSeconds: number;
  #state: LeaseState = 'alive';
  #deadline: number;
  readonly #clock: Clock;
  readonly #transport: LeaseTransport;
  readonly #marginMs: number;
  readonly #intervalMs: number;
  readonly #listeners = new Set<() => void>();
  readonly #onStop: ((lease: KeptLease) => void) | undefined;
  readonly #onKeepAlive: ((latencyMs: number) => void) | undefined;
  #cancelTick: (() => void) | undefined;
  #cancelExpiry: (() => void) | undefined;
  #inFlight = false;

  constructor(options: KeptLeaseOptions) {
    this.id = options.id;
    this.ttlSeconds = options.ttlSeconds;
    this.#clock = options.clock;
    this.#transport = options.transport;
    this.#marginMs = options.marginMs ?? defaultMarginMs(options.ttlSeconds);
    this.#intervalMs = options.keepAliveIntervalMs ?? Math.max(50, (options.ttlSeconds * 1000) / 3);
    this.#onStop = options.onStop;
    this.#onKeepAlive = options.onKeepAlive;
    this.#deadline = options.grantSentAt + options.ttlSeconds * 1000 - this.#marginMs;
    this.#armExpiry();
    this.#scheduleTick();
  }

  get state(): LeaseState {
    return this.#state;
  }

  deadline(): number {
    return this.#deadline;
  }

  valid(): boolean {
    return this.#state === 'alive' && this.#clock.now() < this.#deadline;
  }

  onExpired(listener: () => void): () => void {
    if (this.#state === 'expired') {
      queueMicrotask(listener);
      return () => {};
    }
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async revoke(): Promise<void> {
    if (this.#state === 'revoked') return;
    if (this.#state === 'alive') this.#stop('revoked');
    else this.#state = 'revoked';
    await this.#transport.revoke(this.id);
  }

  abandon(): void {
    if (this.#state === 'alive') this.#stop('abandoned');
  }

  #scheduleTick(): void {
    this.#cancelTick = this.#clock.setTimer(() => this.#tick(), this.#intervalMs);
  }

  #tick(): void {
    if (this.#state !== 'alive') return;
    this.#scheduleTick();
    // One keep-alive at a time: a stuck request must not pile up more behind it; the deadline
    // (not this loop) decides when the lease is lost.
    if (this.#inFlight) return;
    this.#inFlight = true;
    const sentAt = this.#clock.now();
    this.#transport.keepAlive(this.id).then(
      (ttl) => {
        this.#inFlight = false;
        if (this.#state !== 'alive') return;
        if (ttl <= 0) return this.#expire();
        // An ack that arrives after the deadline passed cannot revive the lease: #expire already ran
        // or runs now, because the holder may have stopped acting on it.
        if (this.#clock.now() >= this.#deadline) return this.#expire();
        this.#deadline = Math.max(this.#deadline, sentAt + ttl * 1000 - this.#marginMs);
        this.#armExpiry();
        try {
          this.#onKeepAlive?.(this.#clock.now() - sentAt);
        } catch {
          // An observer must not break the keep-alive loop (its throw would be an unhandled rejection).
        }
      },
      () => {
        this.#inFlight = false;
      },
    );
  }

  #armExpiry(): void {
    this.#cancelExpiry?.();
    this.#cancelExpiry = this.#clock.setTimer(() => {
      if (this.#state !== 'alive') return;
      // Timers may fire a fraction of a millisecond early against the monotonic clock: re-arm.
      if (this.#clock.now() >= this.#deadline) this.#expire();
      else this.#armExpiry();
    }, Math.ceil(this.#deadline - this.#clock.now()));
  }

  #expire(): void {
    if (this.#state !== 'alive') return;
    this.#stop('expired');
    for (const listener of this.#listeners) listener();
    this.#listeners.clear();
  }

  #stop(state: LeaseState): void {
    this.#state = state;
    this.#cancelTick?.();
    this.#cancelExpiry?.();
    if (state !== 'expired') this.#listeners.clear();
    this.#onStop?.(this);
  }
}
