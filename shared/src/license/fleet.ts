import { createHash } from 'node:crypto';
import * as z from 'zod';
import { contract } from '../contracts/contract.js';
import { licenseSubject } from '../nats/subjects.js';

/**
 * The fleet's wires: usage snapshots (cluster → its MIRRORD_USAGE → the hub's MIRRORD_FLEET),
 * the admissions the license server records, and the requests between gateways/ledgers and
 * the license server (over the leafnode to the hub). Declared once, checked on both sides.
 */

/** A seat as one subject token: machine seats are already hex; a user name is hashed (it may hold dots). */
export function seatToken(seat: string): string {
  return /^[0-9a-f]{64}$/.test(seat) ? seat : createHash('sha256').update(seat).digest('hex');
}

/** A fleet wire message checked against its schema; text that is not JSON fails the same way. */
export function parseWire<T extends z.ZodType>(schema: T, text: string): z.ZodSafeParseResult<z.output<T>> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    v = undefined;
  }
  return schema.safeParse(v) as z.ZodSafeParseResult<z.output<T>>;
}

const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD');
const count = z.number().int().min(0);
const time = z.number().int().min(0);

/** One seat's use on one UTC day in one cluster, cumulative (the latest value replaces the earlier). */
export const seatDaySnapshot = z.object({
  kind: z.literal('seat'),
  cluster: z.string(),
  day,
  seat: z.string(),
  user: z.string(),
  sessions: count,
  first_at: time,
  last_at: time,
  overage: count,
  unverified: count,
});
/** One cluster's CI sessions and refused starts on one UTC day. */
export const daySnapshot = z.object({
  kind: z.literal('day'),
  cluster: z.string(),
  day,
  ci_sessions: count,
  ci_max_concurrency: count,
  refused: count,
});
/** A ledger's start-up and hourly heartbeat. */
export const aliveSnapshot = z.object({
  kind: z.literal('alive'),
  cluster: z.string(),
  at: time,
  started_at: time,
  heartbeat_ms: z.number().int().positive(),
});
/** What the license server decided for a seat, recorded on the hub before it answers. */
export const admissionRecord = z.object({
  kind: z.literal('admission'),
  period: day,
  cluster: z.string(),
  seat: z.string(),
  user: z.string(),
  admission: z.enum(['new', 'overage', 'refused']),
  at: time,
});
export const fleetMessage = z.discriminatedUnion('kind', [
  seatDaySnapshot,
  daySnapshot,
  aliveSnapshot,
  admissionRecord,
]);
export type SeatDaySnapshot = z.infer<typeof seatDaySnapshot>;
export type DaySnapshot = z.infer<typeof daySnapshot>;
export type AliveSnapshot = z.infer<typeof aliveSnapshot>;
export type AdmissionRecord = z.infer<typeof admissionRecord>;
export type FleetMessage = z.infer<typeof fleetMessage>;

/** The current billing period's seats, as the license server publishes them to every gateway. */
export const seatSet = z.object({
  period: day,
  /** The period ends then (ms): a gateway drops its copy and asks again. */
  until: time,
  seats: z.array(z.string()),
  seats_licensed: z.number().int().nullable(),
});
export type SeatSet = z.infer<typeof seatSet>;

/** What a cluster's ledger reports: its usage snapshots (admissions are the license server's own). */
export const usageSnapshot = z.discriminatedUnion('kind', [seatDaySnapshot, daySnapshot, aliveSnapshot]);
export type UsageSnapshot = z.infer<typeof usageSnapshot>;

/**
 * The cluster a request comes from is never read from these bodies (`cluster` is kept for the
 * wire's sake): on the hub it is the account the cluster's leafnode authenticated as, on one
 * NATS (`npm start`) the license server's own CLUSTER_NAME.
 */
export const licenseContracts = {
  /** A ledger says hello to the hub (idempotent; sent at start and hourly): `joined` the first time. */
  join: contract(
    licenseSubject('join'),
    z.object({ cluster: z.string(), domain: z.string().default('') }),
    z.object({ joined: z.boolean() }),
  ),
  /** A ledger relays one snapshot of its MIRRORD_USAGE; recorded on the hub before the answer. */
  usage: contract(licenseSubject('usage'), usageSnapshot, z.object({ recorded: z.boolean() }), 5000),
  /** A gateway asks before a seat it does not know takes part in a session. */
  admit: contract(
    licenseSubject('admit'),
    z.object({ cluster: z.string(), seat: z.string(), user: z.string(), allow_overages: z.boolean() }),
    z.object({
      admission: z.enum(['known', 'new', 'overage', 'refused']),
      seats_used: z.number().int(),
      seats_licensed: z.number().int().nullable(),
    }),
    2000,
  ),
  seats: contract(licenseSubject('seats.get'), z.object({}), seatSet, 2000),
} as const;
