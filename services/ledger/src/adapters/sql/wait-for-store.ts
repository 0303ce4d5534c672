import type { Logger } from 'pino';
import { setTimeout as sleep } from 'node:timers/promises';
import { redactUrl } from '#shared/log/index.js';
import type { LedgerStore } from '../../domain/store.js';
import { openLedgerStore } from './sql-store.js';

/** Network errors and PostgreSQL's "not now" answers: the database is down or restarting, not misconfigured. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  // cannot_connect_now (starting up, shutting down, in recovery), too_many_connections, admin_shutdown, crash_shutdown
  '57P03',
  '53300',
  '57P01',
  '57P02',
]);

export function isUnreachable(e: unknown): boolean {
  for (let c: unknown = e, depth = 0; c && depth < 5; c = (c as { cause?: unknown }).cause, depth++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return true;
    const msg = c instanceof Error ? c.message : '';
    if (/Connection terminated|timeout exceeded when trying to connect/i.test(msg)) return true;
    // Node's connect() to several addresses fails with an AggregateError of the same kind.
    if (c instanceof AggregateError && c.errors.some((x) => isUnreachable(x))) return true;
  }
  return false;
}

/**
 * Opens the store, waiting while the database cannot be reached: a ledger started during a
 * database outage (or beside a database still starting) waits for it instead of exiting, which
 * would make a supervisor that sees five fast failures stop the whole system. A refusal that
 * waiting cannot fix (wrong password, no such database, a bad URL) still fails at once.
 */
export async function openStoreWhenReachable(
  url: string,
  sync: 'normal' | 'full',
  log: Logger,
  maxDelayMs = 5000,
): Promise<LedgerStore> {
  for (let attempt = 1, delay = 250; ; attempt++, delay = Math.min(delay * 2, maxDelayMs)) {
    try {
      const store = await openLedgerStore(url, sync);
      if (attempt > 1) log.info({ db: redactUrl(url), attempts: attempt }, 'ledger database reachable');
      return store;
    } catch (e) {
      if (!isUnreachable(e)) throw e;
      log.warn({ db: redactUrl(url), err: e, attempt, retry_in_ms: delay }, 'waiting for the ledger database');
      await sleep(delay);
    }
  }
}
