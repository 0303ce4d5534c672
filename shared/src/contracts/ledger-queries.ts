import * as z from 'zod';
import { validateEvent, type LedgerEvent } from '../events/index.js';
import type { AppendLatency, MetricsSnapshot, SessionView } from '../ledger/index.js';
import { LedgerQuery, querySubject } from '../nats/subjects.js';
import { startedSplit } from '../queues/index.js';
import { contract } from './contract.js';

const SERVICE = 'ledger';
const nullableStr = z.string().nullable();

const sessionView = z.object({
  id: z.string(),
  status: z.enum(['pending', 'live', 'ended']),
  started_at: z.number(),
  ended_at: z.number().nullable(),
  end_reason: nullableStr,
  killed_by: nullableStr,
  target: z.string(),
  namespace: z.string(),
  client_user: z.string(),
  client_name: z.string(),
  client_hostname: z.string(),
  client_id: z.string(),
  user_id: z.string(),
  client_cli_version: z.string(),
  key: nullableStr,
  profile: nullableStr,
  branch_name: nullableStr,
  seat: nullableStr,
  ci: nullableStr,
  admission: nullableStr,
  ports: z.array(
    z.object({
      port: z.number().int(),
      mode: z.enum(['steal', 'mirror']),
      http_filter: nullableStr,
      lock: z.number().int(),
      since: z.number(),
    }),
  ),
  splits: z.array(startedSplit.extend({ since: z.number() })).optional(),
}) satisfies z.ZodType<SessionView>;

/** An event as the event union's validator accepts it. */
const ledgerEvent = z.custom<LedgerEvent>((v) => {
  try {
    validateEvent(v);
    return true;
  } catch {
    return false;
  }
}, 'not a valid ledger event');

const time = z.number().int('expected whole milliseconds').min(0, 'is before 1970');
const sessionsPage = z.object({
  now: z.number(),
  sessions: z.array(sessionView),
  next: z.string().optional(),
  /** Which state of the live sessions the pages show (changes with every start, port and end). */
  version: z.string().optional(),
  /** `known` is still the version: the caller's copy is current and no sessions are sent. */
  unchanged: z.boolean().optional(),
  /**
   * On the first page (changed or not): live sessions of the namespace no client has been seen
   * connected to lately → when one last was (ms). Not part of the version: it moves with time.
   */
  quiet: z.record(z.string(), time).optional(),
});

/**
 * Live sessions, paged by size (`after` = the last id of the previous page). `known`: the
 * version the caller already holds (status polled while nothing changed costs no transfer).
 */
const sessions = contract(
  querySubject(SERVICE, LedgerQuery.sessions),
  z.object({ namespace: z.string().optional(), after: z.string().optional(), known: z.string().optional() }),
  sessionsPage,
);

/** One session (without its events: those are read a page at a time through `events`). */
const session = contract(
  querySubject(SERVICE, LedgerQuery.session),
  z.object({ id: z.string().regex(/^[0-9A-F]{16}$/, 'is not 16 upper-case hex digits') }),
  z.object({ now: z.number(), session: sessionView.nullable() }),
);

/** The audit trail: events filtered, in position order, paged by count and size. */
const events = contract(
  querySubject(SERVICE, LedgerQuery.events),
  z
    .object({
      session_id: z.string().optional(),
      client_user: z.string().optional(),
      target: z.string().optional(),
      namespace: z.string().optional(),
      since: time.optional(),
      until: time.optional(),
      after: z.number().int().min(0).optional(),
      limit: z.number().int().min(1, 'must be at least 1').optional(),
    })
    // An empty window is a mistake in the question (the bounds swapped), not an empty answer.
    .refine((q) => q.since === undefined || q.until === undefined || q.until >= q.since, {
      path: ['until'],
      message: 'is before since',
    }),
  z.object({ events: z.array(ledgerEvent), next: z.number().optional() }),
);

/** Daily and monthly distinct users, as of `at` (absent: now). */
const statistics = contract(
  querySubject(SERVICE, LedgerQuery.statistics),
  z.object({ at: time.optional() }),
  z.object({ dau: z.number().int(), mau: z.number().int() }),
  2000,
);

/** Seats taken in a billing period: distinct seats of the sessions live at some moment in [from, to). */
const seats = contract(
  querySubject(SERVICE, LedgerQuery.seats),
  z.object({ from: time, to: time }),
  z.object({ seats: z.number().int() }),
  5000,
);

/** The live sessions as they were at `at`, rebuilt from events, paged like `sessions`. */
const sessionsAt = contract(
  querySubject(SERVICE, LedgerQuery.sessionsAt),
  z.object({ at: time, namespace: z.string().optional(), after: z.string().optional() }),
  sessionsPage,
  30_000,
);

/** Session and rejection totals with the position they are consistent with. */
const metrics = contract(
  querySubject(SERVICE, LedgerQuery.metrics),
  z.object({}),
  z.object({
    position: z.number(),
    at: z.number(),
    sessions: z.array(
      z.object({
        client_hostname: z.string(),
        client_name: z.string(),
        client_user: z.string(),
        user_id: z.string(),
        created: z.number(),
        ended: z.number(),
        duration_sum: z.number(),
        buckets: z.array(z.number()),
      }),
    ),
    rejections: z.array(z.object({ policy: z.string(), code: z.string(), count: z.number() })),
    outgoing_blocked: z.array(z.object({ policy: z.string(), protocol: z.string(), count: z.number() })),
    ledger_id: z.string().optional(),
  }) satisfies z.ZodType<MetricsSnapshot>,
  30_000,
);

/** `mirrord_teams_ledger_append_seconds` as the ledger measured it. */
const appendLatency = contract(
  querySubject(SERVICE, LedgerQuery.appendLatency),
  z.object({}),
  z.object({
    bounds: z.array(z.number()),
    counts: z.array(z.number()),
    sum: z.number(),
    count: z.number(),
  }) satisfies z.ZodType<AppendLatency>,
);

/** The ledger's read side. */
export const ledgerQueries = Object.freeze({
  sessions,
  session,
  events,
  statistics,
  seats,
  sessionsAt,
  metrics,
  appendLatency,
});
export type EventsQuery = z.output<typeof events.request>;
