import { formatDuration } from '#shared/format/duration.js';

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
