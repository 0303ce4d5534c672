import { utcDay } from '#shared/license/index.js';
import type {
  AdmissionRecord,
  AliveSnapshot,
  DaySnapshot,
  FleetMessage,
  SeatDaySnapshot,
} from '#shared/license/fleet.js';
import type { ClusterHealth, PrimaryKey, UsageReport, UsageRow } from '#shared/license/report.js';

export interface ErrorRow {
  day: string;
  cluster: string;
  kind: 'refused' | 'unverified' | 'silent';
  count: number;
}

interface SeatAgg {
  seat: string;
  users: Set<string>;
  clusters: Set<string>;
  sessions: number;
  first_at: number | null;
  last_at: number | null;
  overage: boolean;
  unverified: number;
}

/**
 * The fleet's usage folded from MIRRORD_FLEET: the last message per subject is the whole truth
 * (snapshots are cumulative), so folding is a map write — replaying the stream after a restart,
 * or seeing a message twice, gives the same state. Days are `YYYY-MM-DD` (UTC), windows [from, to).
 */
export class FleetState {
  readonly #seats = new Map<string, SeatDaySnapshot>();
  readonly #days = new Map<string, DaySnapshot>();
  readonly #alive = new Map<string, AliveSnapshot>();
  readonly #admissions = new Map<string, AdmissionRecord>();

  /**
   * Seats per billing period asked for so far (`seatsOf`), kept up to date as messages fold:
   * every admission reads its period's set, and a seat once in a period never leaves it, so
   * the set only grows — no re-aggregation of the month per admission.
   */
  readonly #periodSeats = new Map<string, { from: string; to: string; seats: Set<string> }>();

  apply(subject: string, m: FleetMessage): void {
    if (m.kind === 'seat') this.#seats.set(subject, m);
    else if (m.kind === 'day') this.#days.set(subject, m);
    else if (m.kind === 'alive') this.#alive.set(m.cluster, m);
    else this.#admissions.set(subject, m);
    const counted =
      m.kind === 'seat'
        ? { at: m.day, seat: m.seat }
        : m.kind === 'admission' && m.admission !== 'refused'
          ? { at: m.period, seat: m.seat }
          : undefined;
    if (!counted) return;
    for (const p of this.#periodSeats.values())
      if (counted.at >= p.from && counted.at < p.to) p.seats.add(counted.seat);
  }

  #aggregate(from: string, to: string): Map<string, SeatAgg> {
    const out = new Map<string, SeatAgg>();
    const agg = (seat: string): SeatAgg => {
      let a = out.get(seat);
      if (!a) {
        a = {
          seat,
          users: new Set(),
          clusters: new Set(),
          sessions: 0,
          first_at: null,
          last_at: null,
          overage: false,
          unverified: 0,
        };
        out.set(seat, a);
      }
      return a;
    };
    for (const s of this.#seats.values()) {
      if (s.day < from || s.day >= to) continue;
      const a = agg(s.seat);
      a.users.add(s.user);
      a.clusters.add(s.cluster);
      a.sessions += s.sessions;
      a.first_at = a.first_at === null ? s.first_at : Math.min(a.first_at, s.first_at);
      a.last_at = a.last_at === null ? s.last_at : Math.max(a.last_at, s.last_at);
      if (s.overage > 0) a.overage = true;
      a.unverified += s.unverified;
    }
    // An admission counts the seat at once, before its cluster's snapshot arrives.
    for (const r of this.#admissions.values()) {
      if (r.admission === 'refused' || r.period < from || r.period >= to) continue;
      const a = agg(r.seat);
      a.users.add(r.user);
      a.clusters.add(r.cluster);
      if (r.admission === 'overage') a.overage = true;
    }
    return out;
  }

  /** The seats counted in a billing period (its id is its first day). */
  seatsOf(period: { id: string; to: string }): ReadonlySet<string> {
    const key = `${period.id}/${period.to}`;
    let p = this.#periodSeats.get(key);
    if (!p) {
      // The current period and the one before are what admissions and metrics ask for.
      if (this.#periodSeats.size >= 4) this.#periodSeats.delete(this.#periodSeats.keys().next().value!);
      p = { from: period.id, to: period.to, seats: new Set(this.#aggregate(period.id, period.to).keys()) };
      this.#periodSeats.set(key, p);
    }
    return p.seats;
  }

  report(from: string, to: string, by: PrimaryKey, licensed: number | null, now: number): UsageReport {
    const seats = [...this.#aggregate(from, to).values()];
    const rows = new Map<string, { row: UsageRow; seats: Set<string> }>();
    for (const a of seats) {
      const keys = by === 'seat' ? [a.seat] : by === 'cluster' ? [...a.clusters] : [...a.users];
      for (const key of keys) {
        let r = rows.get(key);
        if (!r) {
          r = {
            row: { key, seats: 0, sessions: 0, clusters: [], users: [], first_at: null, last_at: null, overages: 0 },
            seats: new Set(),
          };
          rows.set(key, r);
        }
        if (!r.seats.has(a.seat)) {
          r.seats.add(a.seat);
          r.row.seats += 1;
          r.row.sessions += a.sessions;
          if (a.overage) r.row.overages += 1;
        }
        r.row.clusters = [...new Set([...r.row.clusters, ...a.clusters])].sort();
        r.row.users = [...new Set([...r.row.users, ...a.users])].sort();
        if (a.first_at !== null) r.row.first_at = Math.min(r.row.first_at ?? a.first_at, a.first_at);
        if (a.last_at !== null) r.row.last_at = Math.max(r.row.last_at ?? a.last_at, a.last_at);
      }
    }
    const days = [...this.#days.values()].filter((d) => d.day >= from && d.day < to);
    const refusedRecords = [...this.#admissions.values()].filter(
      (r) => r.admission === 'refused' && r.period >= from && r.period < to,
    ).length;
    return {
      from,
      to,
      primary_key: by,
      seats_used: seats.length,
      seats_licensed: licensed,
      overages: seats.filter((a) => a.overage).length,
      unverified_sessions: seats.reduce((n, a) => n + a.unverified, 0),
      // Clusters count each refused start; the hub's records are the fallback before their snapshot.
      refused: Math.max(
        days.reduce((n, d) => n + d.refused, 0),
        refusedRecords,
      ),
      ci: {
        sessions: days.reduce((n, d) => n + d.ci_sessions, 0),
        max_concurrency: ciPeak(days),
      },
      rows: [...rows.values()].map((r) => r.row).sort((a, b) => a.key.localeCompare(b.key)),
      clusters: this.clusters(now),
    };
  }

  /** Seats, sessions and CI per day: the usage trend. */
  trends(
    from: string,
    to: string,
  ): {
    day: string;
    seats: number;
    sessions: number;
    ci_sessions: number;
    ci_max_concurrency: number;
    refused: number;
  }[] {
    const byDay = new Map<
      string,
      { seats: Set<string>; sessions: number; ci_sessions: number; ci_max_concurrency: number; refused: number }
    >();
    const at = (day: string) => {
      let d = byDay.get(day);
      if (!d)
        byDay.set(day, (d = { seats: new Set(), sessions: 0, ci_sessions: 0, ci_max_concurrency: 0, refused: 0 }));
      return d;
    };
    for (const s of this.#seats.values())
      if (s.day >= from && s.day < to) {
        const d = at(s.day);
        d.seats.add(s.seat);
        d.sessions += s.sessions;
      }
    for (const x of this.#days.values())
      if (x.day >= from && x.day < to) {
        const d = at(x.day);
        d.ci_sessions += x.ci_sessions;
        // Peaks of different clusters may overlap: their sum is the fleet's bound for the day.
        d.ci_max_concurrency += x.ci_max_concurrency;
        d.refused += x.refused;
      }
    return [...byDay.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([day, d]) => ({
        day,
        seats: d.seats.size,
        sessions: d.sessions,
        ci_sessions: d.ci_sessions,
        ci_max_concurrency: d.ci_max_concurrency,
        refused: d.refused,
      }));
  }

  /** What went wrong, per day and cluster: refused starts, sessions admitted unverified, silent clusters. */
  errors(from: string, to: string, now: number): ErrorRow[] {
    const rows = new Map<string, ErrorRow>();
    const add = (day: string, cluster: string, kind: ErrorRow['kind'], count: number) => {
      if (count <= 0 || day < from || day >= to) return;
      const k = `${day}|${cluster}|${kind}`;
      const r = rows.get(k);
      if (r) r.count += count;
      else rows.set(k, { day, cluster, kind, count });
    };
    for (const d of this.#days.values()) add(d.day, d.cluster, 'refused', d.refused);
    for (const s of this.#seats.values()) add(s.day, s.cluster, 'unverified', s.unverified);
    for (const c of this.clusters(now)) if (c.silent) add(utcDay(c.last_seen), c.name, 'silent', 1);
    return [...rows.values()].sort(
      (a, b) => a.day.localeCompare(b.day) || a.cluster.localeCompare(b.cluster) || a.kind.localeCompare(b.kind),
    );
  }

  clusters(now: number): ClusterHealth[] {
    return [...this.#alive.values()]
      .map((a) => ({
        name: a.cluster,
        last_seen: a.at,
        heartbeat_ms: a.heartbeat_ms,
        silent: now - a.at > 2 * a.heartbeat_ms,
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }
}

/** The highest day's CI peak, the clusters' peaks of a day summed (they may overlap). */
function ciPeak(days: readonly DaySnapshot[]): number {
  const perDay = new Map<string, number>();
  for (const d of days) perDay.set(d.day, (perDay.get(d.day) ?? 0) + d.ci_max_concurrency);
  return Math.max(0, ...perDay.values());
}

/** What a seat gets: already counted, a free seat, past the licence (overages on), or refused. */
export function decideAdmission(
  known: ReadonlySet<string>,
  seat: string,
  licensed: number | null,
  allowOverages: boolean,
): 'known' | 'new' | 'overage' | 'refused' {
  if (known.has(seat)) return 'known';
  if (licensed === null || known.size < licensed) return 'new';
  return allowOverages ? 'overage' : 'refused';
}
