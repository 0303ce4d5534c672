import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { request } from '#shared/contracts/index.js';
import { licenseContracts, parseWire, seatSet, type SeatSet } from '#shared/license/fleet.js';
import { licenseSubject } from '#shared/nats/index.js';
import type { SeatAdmitter, SeatDecision } from '../../domain/interfaces.js';

export interface SeatGateOptions {
  cluster: string;
  /** ALLOW_SEAT_OVERAGES: past the licensed count a new seat is admitted and recorded as an overage. */
  allowOverages: boolean;
  log: Logger;
  now?: () => number;
}

/**
 * Seats across the fleet, from the gateway's side: the license server publishes the current
 * period's seat set on `mirrord-license.seats` (over the leafnode to the hub), so a seat seen
 * this period is admitted without a round trip; a new seat is asked for (`admit`, 2 s); a
 * license server that does not answer never blocks a session — it is admitted as unverified
 * (recorded on Session Started, counted by the fleet report).
 */
export class NatsSeatGate implements SeatAdmitter {
  readonly #nc: NatsConnection;
  readonly #o: Required<SeatGateOptions>;
  #set: (SeatSet & { known: Set<string> }) | undefined;
  #sub: Subscription | undefined;
  #unreachableSince: number | undefined;

  constructor(nc: NatsConnection, opts: SeatGateOptions) {
    this.#nc = nc;
    this.#o = { now: Date.now, ...opts };
  }

  /** Follows the published seat set and asks for the current one (no answer yet is not an error). */
  start(): void {
    this.#sub = this.#nc.subscribe(licenseSubject('seats'), {
      callback: (err, m) => {
        if (err) return;
        const r = parseWire(seatSet, m.string());
        if (r.success) this.#take(r.data);
        else this.#o.log.warn({ issue: r.error.issues[0]?.message }, 'seat set ignored: not a seat set');
      },
    });
    void request(this.#nc, licenseContracts.seats, {})
      .then((s) => this.#take(s))
      .catch(() => undefined);
  }

  stop(): void {
    this.#sub?.unsubscribe();
  }

  async admit(seat: string, user: string): Promise<SeatDecision> {
    const now = this.#o.now();
    if (this.#set && now < this.#set.until && this.#set.known.has(seat)) return { admission: 'known' };
    try {
      const r = await request(this.#nc, licenseContracts.admit, {
        cluster: this.#o.cluster,
        seat,
        user,
        allow_overages: this.#o.allowOverages,
      });
      if (this.#unreachableSince !== undefined)
        this.#o.log.info({ after_ms: now - this.#unreachableSince }, 'license server reachable again');
      this.#unreachableSince = undefined;
      if (r.admission === 'refused')
        return { admission: 'refused', seats_used: r.seats_used, seats_licensed: r.seats_licensed };
      if (this.#set && now < this.#set.until) this.#set.known.add(seat);
      return { admission: r.admission };
    } catch (err) {
      // Logged when it starts failing, not once per session.
      if (this.#unreachableSince === undefined) {
        this.#unreachableSince = now;
        this.#o.log.warn({ err, seat, user }, 'license server not reached: sessions are admitted as unverified');
      }
      return { admission: 'unverified' };
    }
  }

  #take(s: SeatSet): void {
    if (this.#set && s.period < this.#set.period) return;
    this.#set = { ...s, known: new Set(s.seats) };
  }
}
