import type { LedgerEvent } from '#shared/events/index.js';
import { countLabelled, type ClientLabels, type MetricsSnapshot } from '#shared/ledger/index.js';

/**
 * The event-derived metrics as plain state: restored from a ledger snapshot, then advanced by
 * events. An event at or below the position already counted is ignored, so a redelivery or
 * an overlap with the snapshot never counts twice.
 */
export interface SessionSeries {
  labels: ClientLabels;
  created: number;
  ended: number;
  durationSum: number;
  /** Non-cumulative counts per bucket, plus one for +Inf at the end. */
  buckets: number[];
}

export class MetricsState {
  position = 0;
  readonly sessions = new Map<string, SessionSeries>();
  readonly rejections = new Map<string, { policy: string; code: string; count: number }>();
  readonly outgoingBlocked = new Map<string, { policy: string; protocol: string; count: number }>();

  constructor(readonly bounds: readonly number[]) {}

  #series(l: ClientLabels): SessionSeries {
    const k = `${l.client_hostname}\u0000${l.client_name}\u0000${l.client_user}\u0000${l.user_id}`;
    let s = this.sessions.get(k);
    if (!s)
      this.sessions.set(
        k,
        (s = {
          labels: {
            client_hostname: l.client_hostname,
            client_name: l.client_name,
            client_user: l.client_user,
            user_id: l.user_id,
          },
          created: 0,
          ended: 0,
          durationSum: 0,
          buckets: new Array<number>(this.bounds.length + 1).fill(0),
        }),
      );
    return s;
  }

  restore(snap: MetricsSnapshot): void {
    this.sessions.clear();
    this.rejections.clear();
    this.outgoingBlocked.clear();
    for (const r of snap.sessions) {
      const s = this.#series(r);
      s.created = r.created;
      s.ended = r.ended;
      s.durationSum = r.duration_sum;
      // The snapshot's buckets are cumulative (≤ bound); keep them per bucket.
      let prev = 0;
      r.buckets.forEach((c, i) => {
        s.buckets[i] = c - prev;
        prev = c;
      });
      s.buckets[this.bounds.length] = r.ended - prev;
    }
    for (const { count, ...labels } of snap.rejections) countLabelled(this.rejections, labels, count);
    for (const { count, ...labels } of snap.outgoing_blocked) countLabelled(this.outgoingBlocked, labels, count);
    this.position = snap.position;
  }

  /** True when the event counted (false: already counted, or not a metric event). */
  apply(e: LedgerEvent): boolean {
    if (e.position <= this.position) return false;
    this.position = e.position;
    const d = e.data as unknown as Partial<ClientLabels> & {
      session_duration?: number;
      policy?: string;
      code?: string;
    };
    const labels: ClientLabels = {
      client_hostname: d.client_hostname ?? '',
      client_name: d.client_name ?? '',
      client_user: d.client_user ?? '',
      user_id: d.user_id ?? '',
    };
    switch (e.type) {
      case 'SessionStarted':
        this.#series(labels).created++;
        return true;
      case 'SessionEnded': {
        const s = this.#series(labels);
        const v = d.session_duration ?? 0;
        s.ended++;
        s.durationSum += v;
        let i = this.bounds.findIndex((b) => v <= b);
        if (i < 0) i = this.bounds.length;
        s.buckets[i]!++;
        return true;
      }
      case 'SessionRejected':
        countLabelled(this.rejections, { policy: d.policy ?? '', code: d.code ?? '' });
        return true;
      case 'OutgoingBlocked':
        countLabelled<{ policy: string; protocol: string }>(this.outgoingBlocked, {
          policy: e.data.policy,
          protocol: e.data.protocol,
        });
        return true;
      default:
        return true;
    }
  }
}
