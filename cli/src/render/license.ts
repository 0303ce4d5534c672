import { formatDuration } from '#shared/format/duration.js';
import type { UsageReport } from '#shared/license/report.js';
import { renderTable } from './table.js';

/** What `kubectl mirrord license status` shows, from the operator object. */
export interface LicenseStatus {
  name: string;
  organization: string;
  expire_at: string;
  subscription_id: string | null;
  /** Seconds left until the end of the expiry day (negative once expired). */
  valid_seconds: number;
  seat_mode: 'machine' | 'user' | null;
  seats_used: number | null;
  seats_licensed: number | null;
  billing_period_start: string | null;
}

export function renderLicenseStatus(l: LicenseStatus): string {
  const left = l.valid_seconds > 0 ? `${formatDuration(l.valid_seconds)} left` : 'EXPIRED';
  const seats =
    l.seats_used === null
      ? 'Seats: not reported by this operator'
      : `Seats this billing period${l.billing_period_start ? ` (since ${l.billing_period_start})` : ''}: ${l.seats_used}${
          l.seats_licensed === null ? ' (not limited)' : ` of ${l.seats_licensed}`
        }`;
  return [
    `License: ${l.name} (${l.organization})`,
    `Expires: ${l.expire_at} (${left})`,
    `Subscription: ${l.subscription_id ?? 'none'}`,
    `Seat mode: ${l.seat_mode ?? 'machine'}`,
    seats,
  ].join('\n');
}

const ago = (ms: number) => `${formatDuration(Math.max(0, Math.round(ms / 1000)))} ago`;

export function renderUsage(r: UsageReport, now: number): string {
  const short = (k: string) => (r.primary_key === 'seat' && /^[0-9a-f]{64}$/.test(k) ? `${k.slice(0, 12)}…` : k);
  const head = [
    `Seats from ${r.from} to ${r.to} (exclusive): ${r.seats_used}${r.seats_licensed === null ? ' (not limited)' : ` of ${r.seats_licensed}`}${
      r.overages ? ` (${r.overages} over the licence)` : ''
    }`,
    `CI sessions: ${r.ci.sessions}, at most ${r.ci.max_concurrency} at once`,
    `Refused starts: ${r.refused}; sessions admitted unverified (license server unreachable): ${r.unverified_sessions}`,
  ];
  const table = renderTable(
    [r.primary_key.toUpperCase(), 'SEATS', 'SESSIONS', 'CLUSTERS', 'USERS', 'LAST SESSION'],
    r.rows.map((x) => [
      short(x.key),
      `${x.seats}${x.overages ? ` (${x.overages} over)` : ''}`,
      String(x.sessions),
      x.clusters.join('\n'),
      x.users.join('\n'),
      x.last_at === null ? '-' : ago(now - x.last_at),
    ]),
  );
  const clusters = r.clusters.map(
    (c) =>
      `  ${c.name}: ${c.silent ? `SILENT, no heartbeat for ${ago(now - c.last_seen).replace(/ ago$/, '')}` : `last heartbeat ${ago(now - c.last_seen)}`}`,
  );
  return `${head.join('\n')}\n${table}Clusters:\n${clusters.length ? clusters.join('\n') : '  none has reported yet'}\n`;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/**
 * `license usage -o json`: the report with its times as RFC 3339, as the CSV form writes them
 * (the wire keeps epoch milliseconds; a person or a spreadsheet reads these).
 */
export function usageJson(r: UsageReport): unknown {
  return {
    ...r,
    rows: r.rows.map((x) => ({ ...x, first_at: iso(x.first_at), last_at: iso(x.last_at) })),
    clusters: r.clusters.map((c) => ({ ...c, last_seen: iso(c.last_seen) })),
  };
}
