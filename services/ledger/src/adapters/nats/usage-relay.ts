import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { request } from '#shared/contracts/index.js';
import { licenseContracts, parseWire, usageSnapshot } from '#shared/license/fleet.js';
import { USAGE_STREAM } from '#shared/nats/index.js';

/** How long a stop waits for a relay request in flight. */
const STOP_GRACE_MS = 250;
/** A license server not reached is asked again after 2 s, then twice as late, up to the heartbeat. */
const RETRY_FIRST_MS = 2000;
/** With nothing new, the stream is looked at again this often (a publish wakes it at once). */
const IDLE_MS = 5000;

export interface UsageRelayOptions {
  cluster: string;
  heartbeatMs: number;
  log: Logger;
}

/**
 * Relays this cluster's MIRRORD_USAGE to the license server, in stream order, one request per
 * snapshot, each recorded on the hub before it answers. No JetStream API crosses the leafnode
 * (the hub does not source the cluster's stream): the hub's account for this cluster imports
 * only the licence's request subjects. At least once: a snapshot is re-sent until the hub
 * answers, and from the stream's start after a restart (the hub drops a repeat by its
 * `Nats-Msg-Id`, and keeps one value per subject anyway), so nothing is lost while it is away.
 */
export class UsageRelay {
  readonly #nc: NatsConnection;
  readonly #o: UsageRelayOptions;
  #jsm: JetStreamManager | undefined;
  #next = 1;
  #joined = false;
  #stopped = false;
  #unreachable = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;

  constructor(nc: NatsConnection, opts: UsageRelayOptions) {
    this.#nc = nc;
    this.#o = opts;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Something was published to the stream: relay it now rather than at the next look. */
  wake(): void {
    this.#wake?.();
  }

  /**
   * Stops relaying. A request in flight gets a moment, not its whole timeout: with no hub
   * answering (an imported subject times out rather than saying "no responders") a shutdown
   * would wait 5 s for nothing. Abandoning it loses nothing: the snapshot stays in the stream,
   * and the next relay sends it again (the hub dedups).
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.wake();
    await Promise.race([this.#loop, new Promise((r) => setTimeout(r, STOP_GRACE_MS).unref())]);
  }

  async #run(): Promise<void> {
    let delay = RETRY_FIRST_MS;
    while (!this.#stopped) {
      let relayed: boolean;
      try {
        if (!this.#joined) await this.#join();
        relayed = await this.#relayNew();
        if (this.#unreachable) this.#o.log.info({ cluster: this.#o.cluster }, 'license server reached: usage relayed');
        this.#unreachable = false;
        delay = RETRY_FIRST_MS;
      } catch (err) {
        // No hub, or not reachable now: usage stays in this cluster's stream until it answers.
        if (!this.#unreachable)
          this.#o.log.debug({ err, retry_in_ms: delay }, 'license server not reached; usage kept locally');
        this.#unreachable = true;
        await this.#sleep(delay);
        delay = Math.min(delay * 2, this.#o.heartbeatMs);
        continue;
      }
      if (!relayed) await this.#sleep(IDLE_MS);
    }
  }

  async #join(): Promise<void> {
    const r = await request(this.#nc, licenseContracts.join, { cluster: this.#o.cluster, domain: '' });
    this.#joined = true;
    if (r.joined)
      this.#o.log.info({ cluster: this.#o.cluster }, 'joined the license hub: this cluster’s usage is relayed to it');
  }

  /** Relays what the stream holds past the last relayed sequence; false when there was nothing. */
  async #relayNew(): Promise<boolean> {
    this.#jsm ??= await jetstreamManager(this.#nc);
    const { state } = await this.#jsm.streams.info(USAGE_STREAM);
    this.#next = Math.max(this.#next, state.first_seq);
    if (this.#next > state.last_seq) return false;
    for (; this.#next <= state.last_seq && !this.#stopped; this.#next++) {
      // Superseded snapshots are gone from the stream (one value per subject): nothing to send.
      const m = await this.#jsm.streams.getMessage(USAGE_STREAM, { seq: this.#next });
      if (!m) continue;
      const snap = parseWire(usageSnapshot, m.string());
      if (!snap.success) {
        this.#o.log.warn({ seq: this.#next, subject: m.subject }, 'usage message not relayed: not a usage snapshot');
        continue;
      }
      await request(this.#nc, licenseContracts.usage, snap.data);
    }
    return true;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      t.unref();
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.#wake = done;
    });
  }
}
