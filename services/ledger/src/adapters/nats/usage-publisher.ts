import { createHash } from 'node:crypto';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { seatToken, type FleetMessage } from '#shared/license/fleet.js';
import {
  ensureStream,
  USAGE_STREAM,
  usageAliveSubject,
  usageDaySubject,
  usageSeatSubject,
  usageWildcard,
} from '#shared/nats/index.js';
import type { StoredEvent, UsageReads } from '../../domain/store.js';
import { DAY_MS, USAGE_RETENTION_MS } from '#shared/license/index.js';
import { dayOf } from '../../domain/usage.js';
import { UsageRelay } from './usage-relay.js';

/** Starts are grouped for a second before their day is re-read (usage is not latency-critical). */
const FLUSH_DELAY_MS = 1000;

export interface UsagePublisherOptions {
  cluster: string;
  heartbeatMs: number;
  log: Logger;
  now?: () => number;
}

/**
 * Publishes this cluster's licence usage to its MIRRORD_USAGE stream (one last value per
 * subject): a seat snapshot per UTC day and seat, a day snapshot (CI, refusals) and an alive
 * heartbeat. Values are cumulative and re-read from the store, so a failed publish is repaired
 * by the next one; `Nats-Msg-Id` is cluster + subject + content, so a repeat is dropped even
 * where a snapshot is relayed again (UsageRelay sends the stream to the hub, at least once).
 */
export class UsagePublisher {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #store: Pick<UsageReads, 'usageBetween'>;
  readonly #o: Required<UsagePublisherOptions>;
  readonly #startedAt: number;
  readonly #dirty = new Set<number>();
  /** Last content published per subject: unchanged snapshots are not sent again. */
  readonly #sent = new Map<string, string>();
  #flushTimer: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #running: Promise<void> = Promise.resolve();
  #failing = false;
  readonly #relay: UsageRelay;

  constructor(nc: NatsConnection, store: Pick<UsageReads, 'usageBetween'>, opts: UsagePublisherOptions) {
    this.#nc = nc;
    this.#js = jetstream(nc);
    this.#store = store;
    this.#o = { now: Date.now, ...opts };
    this.#startedAt = this.#o.now();
    this.#relay = new UsageRelay(nc, opts);
  }

  async start(): Promise<void> {
    const jsm = await ensureStream(this.#nc, USAGE_STREAM, [usageWildcard(this.#o.cluster)]);
    const info = await jsm.streams.info(USAGE_STREAM);
    if (info.config.max_msgs_per_subject !== 1)
      await jsm.streams.update(USAGE_STREAM, {
        ...info.config,
        max_msgs_per_subject: 1,
        max_age: nanos(USAGE_RETENTION_MS),
      });
    await this.#beat();
    this.#heartbeat = setInterval(() => void this.#beat(), this.#o.heartbeatMs);
    this.#relay.start();
  }

  /**
   * Feeds committed events: a start or a refusal changes its day's usage; an end, the day it
   * ended on (a session live across midnight counts on both days, CI concurrency included).
   */
  onCommitted(events: StoredEvent[]): void {
    for (const { event } of events)
      if (event.type === 'SessionStarted' || event.type === 'SessionRejected' || event.type === 'SessionEnded')
        this.#dirty.add(dayOf(event.time).from);
    if (this.#dirty.size > 0 && !this.#flushTimer)
      this.#flushTimer = setTimeout(() => {
        this.#flushTimer = undefined;
        this.#schedule();
      }, FLUSH_DELAY_MS);
  }

  async drain(): Promise<void> {
    clearInterval(this.#heartbeat);
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#schedule();
    await this.#running;
    await this.#relay.stop();
  }

  /** Start-up and hourly: alive, today and yesterday re-read (sessions span midnight). */
  async #beat(): Promise<void> {
    const now = this.#o.now();
    this.#dirty.add(dayOf(now).from).add(dayOf(now - DAY_MS).from);
    this.#sent.clear();
    this.#schedule();
    await this.#running;
    const alive: FleetMessage = {
      kind: 'alive',
      cluster: this.#o.cluster,
      at: now,
      started_at: this.#startedAt,
      heartbeat_ms: this.#o.heartbeatMs,
    };
    await this.#publish(usageAliveSubject(this.#o.cluster), alive).catch(() => undefined);
  }

  #schedule(): void {
    this.#running = this.#running.then(() => this.#flush());
  }

  async #flush(): Promise<void> {
    const days = [...this.#dirty].sort((a, b) => a - b);
    this.#dirty.clear();
    for (const from of days) {
      try {
        await this.#publishDay(from);
        if (this.#failing) this.#o.log.info({ cluster: this.#o.cluster }, 'usage publishing resumed');
        this.#failing = false;
      } catch (err) {
        this.#dirty.add(from); // the next flush or heartbeat repairs it
        if (!this.#failing) this.#o.log.warn({ err }, 'usage not published; retried with the next change or heartbeat');
        this.#failing = true;
      }
    }
  }

  async #publishDay(from: number): Promise<void> {
    const { day } = dayOf(from);
    const cluster = this.#o.cluster;
    const u = await this.#store.usageBetween(from, from + DAY_MS);
    for (const s of u.seats)
      await this.#publish(usageSeatSubject(cluster, day, seatToken(s.seat)), { kind: 'seat', cluster, day, ...s });
    await this.#publish(usageDaySubject(cluster, day), {
      kind: 'day',
      cluster,
      day,
      ci_sessions: u.ci_sessions,
      ci_max_concurrency: u.ci_max_concurrency,
      refused: u.refused,
    });
  }

  async #publish(subject: string, msg: FleetMessage): Promise<void> {
    const body = JSON.stringify(msg);
    if (msg.kind !== 'alive' && this.#sent.get(subject) === body) return;
    const digest = createHash('sha256').update(body).digest('hex').slice(0, 32);
    await this.#js.publish(subject, body, { msgID: `${this.#o.cluster}:${subject}:${digest}` });
    this.#sent.set(subject, body);
    this.#relay.wake();
  }
}
