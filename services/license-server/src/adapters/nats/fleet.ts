import { createHash } from 'node:crypto';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import { Svcm, type Service } from '@nats-io/services';
import type { Logger } from 'pino';
import { serveContract } from '#shared/contracts/index.js';
import { forbidden } from '#shared/errors/index.js';
import { billingPeriod, USAGE_RETENTION_MS, utcDay, type License } from '#shared/license/index.js';
import {
  fleetMessage,
  licenseContracts as c,
  parseWire,
  seatToken,
  type SeatSet,
  type UsageSnapshot,
} from '#shared/license/fleet.js';
import {
  FLEET_ADMISSIONS,
  FLEET_STREAM,
  fleetAdmissionSubject,
  fleetUsageSubject,
  licenseFromSubject,
  licenseSubject,
  streamReplicas,
  type LicenseWire,
} from '#shared/nats/index.js';
import { decideAdmission, type FleetState } from '../../domain/fleet-state.js';

export interface FleetOptions {
  license: License | undefined;
  /** The cluster whose NATS this license server shares (its CLUSTER_NAME): who asks on the un-prefixed subjects. */
  localCluster?: string;
  log: Logger;
  version: string;
  now?: () => number;
}

/** The current billing period as days (the open licence bills from the 1st). */
export function currentPeriod(license: License | undefined, now: number): { id: string; to: string; until: number } {
  const p = billingPeriod(now, license?.billing_day ?? 1);
  return { id: p.id, to: utcDay(p.to), until: p.to };
}

/**
 * The hub side of the fleet: MIRRORD_FLEET (the license server's admissions, plus the usage
 * snapshots each cluster's ledger relays, recorded under the cluster that sent them), folded into `state` by an
 * ordered consumer from the first message (the stream keeps one value per subject, so the
 * whole history is small); `join`, `admit` and `seats.get` answered; the current period's
 * seat set published to the gateways whenever it changes.
 */
export class Fleet {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #state: FleetState;
  readonly #o: Required<FleetOptions>;
  #jsm!: JetStreamManager;
  #svc: Service | undefined;
  #stopConsumer: (() => Promise<void>) | undefined;
  /** Admissions are decided one at a time: two gateways must not both take the last seat. */
  #admitting: Promise<unknown> = Promise.resolve();
  #lastSet = '';
  readonly #joined = new Set<string>();
  #publishTimer: NodeJS.Timeout | undefined;
  #periodTimer: NodeJS.Timeout | undefined;
  /** Stream sequence folded so far (readiness: caught up with what existed at start). */
  folded = 0;

  constructor(nc: NatsConnection, state: FleetState, opts: FleetOptions) {
    this.#nc = nc;
    this.#js = jetstream(nc);
    this.#state = state;
    this.#o = { now: Date.now, localCluster: 'default', ...opts };
  }

  get licensed(): number | null {
    return this.#o.license?.seats ?? null;
  }

  async start(): Promise<void> {
    this.#jsm = await jetstreamManager(this.#nc);
    if (!(await this.#jsm.streams.info(FLEET_STREAM).catch(() => undefined)))
      await this.#jsm.streams.add({
        name: FLEET_STREAM,
        subjects: [FLEET_ADMISSIONS],
        max_msgs_per_subject: 1,
        max_age: nanos(USAGE_RETENTION_MS),
        num_replicas: streamReplicas(this.#nc),
        duplicate_window: nanos(60 * 60 * 1000),
      });
    const caughtUp = await this.#consume();
    this.#svc = await new Svcm(this.#nc).add({
      name: 'license-server',
      version: this.#o.version,
      queue: 'license-server',
      description: 'seats across the fleet: joins, admissions, the seat set',
    });
    const onError = (f: Record<string, unknown>, m: string) => this.#o.log.error(f, m);
    // Each wire twice: on one NATS (un-prefixed, our own cluster) and from the hub's cluster
    // accounts (`mirrord-license.from.<cluster>.…`). The cluster is the subject's, never the body's.
    for (const [suffix, subjectOf] of [
      ['', (w: LicenseWire) => licenseSubject(w)],
      ['-from', (w: LicenseWire) => licenseFromSubject('*', w)],
    ] as const) {
      const who = (subject: string) => (suffix === '' ? this.#o.localCluster : subject.split('.')[2]!);
      serveContract(this.#svc, `join${suffix}`, c.join, (_r, s) => this.join(who(s)), onError, subjectOf('join'));
      serveContract(
        this.#svc,
        `admit${suffix}`,
        c.admit,
        (r, s) => {
          const p = this.#admitting.then(() => this.admit(who(s), r.seat, r.user, r.allow_overages));
          this.#admitting = p.catch(() => undefined);
          return p;
        },
        onError,
        subjectOf('admit'),
      );
      serveContract(this.#svc, `seats${suffix}`, c.seats, () => this.seatSet(), onError, subjectOf('seats.get'));
      serveContract(this.#svc, `usage${suffix}`, c.usage, (r, s) => this.usage(who(s), r), onError, subjectOf('usage'));
    }
    await caughtUp;
    this.#publishSet();
    // Every minute, changed or not: a gateway that started while the hub was away catches up,
    // and a new billing period starts a new seat set even when nothing else happens that day.
    this.#periodTimer = setInterval(() => this.#publishSet(true), 60_000);
  }

  /** A cluster says hello (the hub's accounts decide which clusters can: an unknown one never reaches here). */
  join(cluster: string): { joined: boolean } {
    if (this.#joined.has(cluster)) return { joined: false };
    this.#joined.add(cluster);
    this.#o.log.info({ cluster }, 'cluster joined the fleet');
    return { joined: true };
  }

  /**
   * Records one usage snapshot a cluster's ledger relayed, under the cluster it came from: a
   * cluster reports only its own usage, whatever its message says.
   */
  async usage(cluster: string, snap: UsageSnapshot): Promise<{ recorded: boolean }> {
    if (snap.cluster !== cluster)
      throw forbidden(
        `cluster "${cluster}" may report only its own usage, not "${snap.cluster}" (the cluster is its leafnode's account at the hub)`,
      );
    const rest =
      snap.kind === 'alive'
        ? 'alive'
        : snap.kind === 'day'
          ? `day.${snap.day}`
          : `seat.${snap.day}.${seatToken(snap.seat)}`;
    const subject = fleetUsageSubject(cluster, rest);
    const body = JSON.stringify(snap);
    const digest = createHash('sha256').update(body).digest('hex').slice(0, 32);
    const ack = await this.#js.publish(subject, body, { msgID: `${cluster}:${rest}:${digest}` });
    if (!this.#joined.has(cluster)) this.join(cluster);
    this.#state.apply(subject, snap);
    this.#schedulePublish();
    return { recorded: !ack.duplicate };
  }

  async admit(
    cluster: string,
    seat: string,
    user: string,
    allowOverages: boolean,
  ): Promise<{
    admission: 'known' | 'new' | 'overage' | 'refused';
    seats_used: number;
    seats_licensed: number | null;
  }> {
    const now = this.#o.now();
    const period = currentPeriod(this.#o.license, now);
    const known = this.#state.seatsOf(period);
    const admission = decideAdmission(known, seat, this.licensed, allowOverages);
    if (admission !== 'known') {
      const subject = fleetAdmissionSubject(period.id, seatToken(seat));
      const record = { kind: 'admission' as const, period: period.id, cluster, seat, user, admission, at: now };
      // Recorded on the hub before the answer: a restarted license server still counts the seat.
      await this.#js.publish(subject, JSON.stringify(record), {
        msgID: `admission:${period.id}:${seatToken(seat)}:${admission}`,
      });
      this.#state.apply(subject, record);
      this.#o.log.info({ cluster, seat, user, admission, period: period.id }, 'seat admission');
      this.#schedulePublish();
    }
    // The period's set is live: an admitted seat is in it now.
    return { admission, seats_used: known.size, seats_licensed: this.licensed };
  }

  seatSet(): SeatSet {
    const period = currentPeriod(this.#o.license, this.#o.now());
    return {
      period: period.id,
      until: period.until,
      seats: [...this.#state.seatsOf(period)].sort(),
      seats_licensed: this.licensed,
    };
  }

  async stop(): Promise<void> {
    clearInterval(this.#periodTimer);
    clearTimeout(this.#publishTimer);
    await this.#svc?.stop();
    await this.#stopConsumer?.();
  }

  /** Folds the stream from its first message; resolves once what existed at start is folded. */
  async #consume(): Promise<void> {
    const last = (await this.#jsm.streams.info(FLEET_STREAM)).state.last_seq;
    const consumer = await this.#js.consumers.get(FLEET_STREAM);
    const msgs = await consumer.consume();
    let release!: () => void;
    const caughtUp = new Promise<void>((r) => (release = r));
    if (last === 0) release();
    this.#stopConsumer = () => msgs.close().then(() => undefined);
    void (async () => {
      for await (const m of msgs) {
        // A garbled message is skipped (and said), never the end of the fold.
        const parsed = parseWire(fleetMessage, m.string());
        if (parsed.success) this.#state.apply(m.subject, parsed.data);
        else
          this.#o.log.warn(
            { subject: m.subject, issue: parsed.error.issues[0]?.message },
            'fleet message ignored: not a usage snapshot',
          );
        this.folded = m.seq;
        if (m.seq >= last) release();
        this.#schedulePublish();
      }
    })();
    return caughtUp;
  }

  #schedulePublish(): void {
    if (this.#publishTimer) return;
    this.#publishTimer = setTimeout(() => {
      this.#publishTimer = undefined;
      this.#publishSet();
    }, 200);
  }

  #publishSet(force = false): void {
    const set = JSON.stringify(this.seatSet());
    if (set === this.#lastSet && !force) return;
    this.#lastSet = set;
    this.#nc.publish(licenseSubject('seats'), set);
  }
}
