import * as z from 'zod';

/**
 * The license server's usage report (`GET /api/v1/reports/usage?format=json`): declared once,
 * built by the license server, validated by `kubectl mirrord license usage`.
 */
export const PRIMARY_KEYS = ['seat', 'cluster', 'user'] as const;
/** A report's grouping: one row per seat, per cluster or per Kubernetes user. */
export type PrimaryKey = (typeof PRIMARY_KEYS)[number];

const count = z.number().int().min(0);
const time = z.number().int().nullable();

export const usageRow = z.object({
  key: z.string(),
  seats: count,
  sessions: count,
  clusters: z.array(z.string()),
  users: z.array(z.string()),
  first_at: time,
  last_at: time,
  /** Seats of this row admitted past the licensed count. */
  overages: count,
});

export const clusterHealth = z.object({
  name: z.string(),
  last_seen: z.number().int(),
  heartbeat_ms: z.number().int(),
  /** No heartbeat for longer than two of its intervals. */
  silent: z.boolean(),
});

export const usageReport = z.object({
  from: z.string(),
  to: z.string(),
  primary_key: z.enum(PRIMARY_KEYS),
  seats_used: count,
  seats_licensed: z.number().int().nullable(),
  overages: count,
  unverified_sessions: count,
  refused: count,
  ci: z.object({ sessions: count, max_concurrency: count }),
  rows: z.array(usageRow),
  clusters: z.array(clusterHealth),
});
export type UsageRow = z.infer<typeof usageRow>;
export type ClusterHealth = z.infer<typeof clusterHealth>;
export type UsageReport = z.infer<typeof usageReport>;

/** The CSV form's columns, in order (lists joined with `;`, times as RFC 3339). */
export const USAGE_COLUMNS = [
  'key',
  'seats',
  'sessions',
  'overages',
  'clusters',
  'users',
  'first_at',
  'last_at',
] as const;
