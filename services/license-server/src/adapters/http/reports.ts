import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { Gauge, Registry } from 'prom-client';
import { AppError, ErrorCode, invalid, isAppError } from '#shared/errors/index.js';
import { toCsv } from '#shared/format/csv.js';
import { DAY_MS, licenseValidSeconds, utcDay, type License } from '#shared/license/index.js';
import { contextFromHttp, inSpan, SpanKind } from '#shared/otel/index.js';
import { PRIMARY_KEYS, USAGE_COLUMNS, type PrimaryKey } from '#shared/license/report.js';
import type { FleetState } from '../../domain/fleet-state.js';
import { currentPeriod } from '../nats/fleet.js';

export interface ReportsDeps {
  state: FleetState;
  license: License;
  key: string;
  log: Logger;
  ready: () => boolean;
  now?: () => number;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** `from`/`to` as UTC days, `to` exclusive; both default to the current billing period. */
function window(q: Record<string, unknown>, license: License, now: number): { from: string; to: string } {
  const period = currentPeriod(license, now);
  const param = (k: 'from' | 'to', dflt: string): string => {
    const v = q[k];
    if (v === undefined || v === '') return dflt;
    if (typeof v !== 'string') throw invalid(k, 'expected one value');
    // A day, or a timestamp naming its UTC day (`2026-12-01T10:00:00Z` is `2026-12-01`).
    const t = Date.parse(DAY.test(v) ? `${v}T00:00:00Z` : v);
    if (Number.isNaN(t) || !DAY.test(v.slice(0, 10)) || (DAY.test(v) && utcDay(t) !== v))
      throw invalid(k, `expected a day YYYY-MM-DD (or an RFC 3339 time), got "${v}"`);
    return utcDay(t);
  };
  const from = param('from', period.id);
  const to = param('to', q.from ? nextPeriodDay(from, license) : period.to);
  if (to <= from) throw invalid('to', `must be after from (${from}); "to" is exclusive`, `e.g. to=${nextDay(from)}`);
  return { from, to };
}

const nextDay = (d: string) => utcDay(Date.parse(`${d}T00:00:00Z`) + DAY_MS);
/** With only `from`, the window runs to the end of the billing period holding it. */
const nextPeriodDay = (from: string, license: License) => currentPeriod(license, Date.parse(`${from}T00:00:00Z`)).to;

function choice<T extends string>(q: Record<string, unknown>, k: string, allowed: readonly T[]): T {
  const v = q[k] ?? allowed[0];
  if (typeof v !== 'string' || !allowed.includes(v as T))
    throw invalid(k, `expected ${allowed.map((a) => `"${a}"`).join(' | ')}, got "${String(v)}"`);
  return v as T;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

function send(reply: FastifyReply, e: unknown, log: Logger): FastifyReply {
  if (!isAppError(e)) log.error({ err: e }, 'report failed');
  const err = isAppError(e)
    ? e
    : new AppError(ErrorCode.Unavailable, `internal error: ${e instanceof Error ? e.message : String(e)}`, {
        httpStatus: 500,
      });
  return reply.code(err.httpStatus).send(err.toBody());
}

function metrics(d: ReportsDeps, now: () => number): Registry {
  const registry = new Registry();
  new Gauge({
    name: 'mirrord_license_valid_seconds',
    help: 'seconds until the operator license expires',
    registers: [registry],
    collect() {
      this.set(Math.max(0, licenseValidSeconds(d.license, now())));
    },
  });
  new Gauge({
    name: 'mirrord_license_seats_used',
    help: 'seats counted in the current billing period, across every cluster',
    registers: [registry],
    collect() {
      this.set(d.state.seatsOf(currentPeriod(d.license, now())).size);
    },
  });
  new Gauge({
    name: 'mirrord_license_seats_licensed',
    help: 'seats the licence allows (-1: not limited)',
    registers: [registry],
    collect() {
      this.set(d.license.seats ?? -1);
    },
  });
  new Gauge({
    name: 'mirrord_license_clusters',
    help: 'clusters reporting usage, by whether their heartbeat is overdue (silent: > 2 intervals)',
    labelNames: ['silent'],
    registers: [registry],
    collect() {
      const c = d.state.clusters(now());
      this.set({ silent: 'false' }, c.filter((x) => !x.silent).length);
      this.set({ silent: 'true' }, c.filter((x) => x.silent).length);
    },
  });
  return registry;
}

const TREND_COLUMNS = ['day', 'seats', 'sessions', 'ci_sessions', 'ci_max_concurrency', 'refused'] as const;
const ERROR_COLUMNS = ['day', 'cluster', 'kind', 'count'] as const;

/**
 * The reports API (the seed's `/api/v1/reports/usage?format=json|csv&from&to&primary_key=…`,
 * the usage trends and errors) behind `x-license-key`, plus /metrics and the health probes.
 */
export async function buildReportsServer(d: ReportsDeps): Promise<FastifyInstance> {
  const now = d.now ?? Date.now;
  const registry = metrics(d, now);
  const app = Fastify({ logger: false });
  const want = digest(d.key);
  app.setErrorHandler((e, _req, reply) => send(reply, e, d.log));
  app.setNotFoundHandler((req, reply) =>
    send(reply, new AppError(ErrorCode.NotFound, `no such endpoint: ${req.method} ${req.url.split('?')[0]}`), d.log),
  );
  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith('/api/')) return;
    if (!d.ready())
      return send(
        reply,
        new AppError(
          ErrorCode.Unavailable,
          'the license server is still reading the fleet stream (or NATS is away); retry shortly',
        ),
        d.log,
      );
    const got = req.headers['x-license-key'];
    // Compared as digests: constant time whatever the lengths.
    if (typeof got !== 'string' || !timingSafeEqual(digest(got), want))
      return send(
        reply,
        new AppError(
          ErrorCode.Unauthorized,
          got === undefined
            ? 'x-license-key: the header is required; send the license server key (LICENSE_KEY)'
            : 'x-license-key: does not match the license server key (LICENSE_KEY)',
          { field: 'x-license-key' },
        ),
        d.log,
      );
  });
  const traced =
    <T>(name: string, fn: (q: Record<string, unknown>, reply: FastifyReply) => T) =>
    (req: FastifyRequest, reply: FastifyReply) =>
      inSpan(name, SpanKind.SERVER, contextFromHttp(req.headers), { 'url.path': req.url.split('?')[0] ?? '' }, () =>
        Promise.resolve(fn((req.query ?? {}) as Record<string, unknown>, reply)),
      );
  const csv = (reply: FastifyReply, name: string, w: { from: string; to: string }, body: string) =>
    reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="mirrord-${name}-${w.from}-${w.to}.csv"`)
      .send(body);

  app.get('/healthz', async () => 'ok');
  app.get('/readyz', async (_req, reply) =>
    d.ready() ? 'ok' : reply.code(503).send('the license server is not ready (NATS or the fleet stream)'),
  );
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));

  app.get(
    '/api/v1/reports/usage',
    traced('GET /api/v1/reports/usage', (q, reply) => {
      const format = choice(q, 'format', ['json', 'csv'] as const);
      const by = choice<PrimaryKey>(q, 'primary_key', PRIMARY_KEYS);
      const w = window(q, d.license, now());
      const report = d.state.report(w.from, w.to, by, d.license.seats ?? null, now());
      if (format === 'json') return report;
      const rows = report.rows.map((r) => ({
        ...r,
        first_at: r.first_at === null ? '' : new Date(r.first_at).toISOString(),
        last_at: r.last_at === null ? '' : new Date(r.last_at).toISOString(),
      }));
      return csv(reply, 'usage', w, toCsv(USAGE_COLUMNS, rows));
    }),
  );
  app.get(
    '/api/v1/reports/usage/trends',
    traced('GET /api/v1/reports/usage/trends', (q, reply) => {
      const format = choice(q, 'format', ['json', 'csv'] as const);
      const w = window(q, d.license, now());
      const days = d.state.trends(w.from, w.to);
      return format === 'json' ? { ...w, days } : csv(reply, 'trends', w, toCsv(TREND_COLUMNS, days));
    }),
  );
  app.get(
    '/api/v1/reports/errors',
    traced('GET /api/v1/reports/errors', (q, reply) => {
      const format = choice(q, 'format', ['json', 'csv'] as const);
      const w = window(q, d.license, now());
      const errors = d.state.errors(w.from, w.to, now());
      return format === 'json' ? { ...w, errors } : csv(reply, 'errors', w, toCsv(ERROR_COLUMNS, errors));
    }),
  );
  return app;
}
