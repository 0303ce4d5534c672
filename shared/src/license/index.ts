import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { invalid } from '../errors/index.js';

/**
 * The operator licence (OPERATOR_LICENSE_FILE): what the real CLI reads (name, organization,
 * expire_at, subscription_id) and what seats are counted against (seats, seat_mode,
 * billing_day), optionally signed with Ed25519 by whoever issues it.
 */
export interface License {
  name: string;
  organization: string;
  /** YYYY-MM-DD: valid through the end of that day (UTC). */
  expire_at: string;
  /** Seats licensed (absent: not limited). */
  seats?: number;
  /** What one seat is: a machine (the client certificate's key) or a Kubernetes user. */
  seat_mode: 'machine' | 'user';
  /** Day of the month the billing period starts (1–28, so every month has it). */
  billing_day: number;
  subscription_id?: string;
}

const day = z.preprocess(
  (v) => (v instanceof Date ? v.toISOString().slice(0, 10) : v),
  z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD'),
);

const licenseDoc = z.object({
  name: z.string().min(1, 'is required'),
  organization: z.string().min(1, 'is required'),
  expire_at: day,
  seats: z.number().int('expected a whole number').min(0, 'cannot be negative').optional(),
  seat_mode: z.enum(['machine', 'user']).default('machine'),
  billing_day: z.number().int('expected a whole number').min(1).max(28, 'expected 1 to 28').default(1),
  subscription_id: z.string().min(1).optional(),
  /** base64 Ed25519 signature of the canonical document (every other field, keys sorted). */
  signature: z.string().optional(),
});

/** The bytes a licence's signature covers: its fields but the signature, keys sorted, as JSON. */
export function canonicalLicense(doc: Record<string, unknown>): Buffer {
  const fields = Object.fromEntries(
    Object.keys(doc)
      .filter((k) => k !== 'signature' && doc[k] !== undefined)
      .sort()
      .map((k) => {
        const v = doc[k];
        return [k, v instanceof Date ? v.toISOString().slice(0, 10) : v];
      }),
  );
  return Buffer.from(JSON.stringify(fields));
}

/** An Ed25519 public key from PEM, or from its raw 32 bytes in base64 (OPERATOR_LICENSE_PUBLIC_KEY). */
export function licensePublicKey(text: string, field: string): KeyObject {
  try {
    if (text.includes('-----BEGIN')) return createPublicKey(text);
    const raw = Buffer.from(text.trim(), 'base64');
    if (raw.length !== 32) throw new Error(`expected 32 bytes of an Ed25519 key, got ${raw.length}`);
    // SPKI prefix of an Ed25519 public key, then the raw key.
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]);
    return createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (e) {
    throw invalid(
      field,
      `not an Ed25519 public key: ${(e as Error).message}`,
      'give a PEM file or the raw key in base64',
    );
  }
}

/**
 * Validates a parsed licence document; with a public key, its signature must verify. Every
 * refusal names the field (`OPERATOR_LICENSE_FILE: seats`) and what it expected.
 */
export function parseLicense(doc: unknown, source: string, publicKey?: KeyObject): License {
  const r = licenseDoc.safeParse(doc ?? {});
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const path = issue.path.join('.') || 'document';
    throw invalid(`${source}: ${path}`, issue.message, 'a licence has name, organization, expire_at (YYYY-MM-DD)');
  }
  const { signature, ...license } = r.data;
  if (publicKey) {
    if (!signature) throw invalid(`${source}: signature`, 'is required: a licence public key is configured');
    const ok = verify(
      null,
      canonicalLicense(doc as Record<string, unknown>),
      publicKey,
      Buffer.from(signature, 'base64'),
    );
    if (!ok)
      throw invalid(
        `${source}: signature`,
        'does not verify with the configured public key',
        'the file was changed after it was signed, or it was signed with another key',
      );
  }
  return license;
}

/**
 * The seat a session takes: in `machine` mode the hex SHA-256 of the client certificate's public
 * key (`user_id`, base64 — the CLI keeps one key pair per licence, so a machine is one seat in
 * every cluster); in `user` mode, or for a client without a certificate, the Kubernetes user.
 */
export function seatOf(mode: License['seat_mode'], client: { user_id: string; client_user: string }): string {
  if (mode === 'machine' && client.user_id)
    return createHash('sha256').update(Buffer.from(client.user_id, 'base64')).digest('hex');
  return `user:${client.client_user}`;
}

/** Seconds until the licence expires (the end of its expire_at day, UTC); negative once expired. */
export function licenseValidSeconds(l: Pick<License, 'expire_at'>, now: number): number {
  return Math.floor((Date.parse(`${l.expire_at}T23:59:59.999Z`) - now) / 1000);
}

export const DAY_MS = 86_400_000;
/** Usage is kept a little over a year, in the clusters and on the hub: a report may ask for last year's billing month. */
export const USAGE_RETENTION_MS = 400 * DAY_MS;
/** The UTC day of a time, `YYYY-MM-DD` (usage days and billing-period ids). */
export const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/**
 * The billing period holding `at`: from the billing day of its month (or the previous month's,
 * before that day) to the next one, UTC. Its id is the start day, YYYY-MM-DD.
 */
export function billingPeriod(at: number, billingDay: number): { id: string; from: number; to: number } {
  const d = new Date(at);
  let y = d.getUTCFullYear();
  let m = d.getUTCMonth();
  if (d.getUTCDate() < billingDay) m -= 1;
  if (m < 0) {
    m = 11;
    y -= 1;
  }
  const from = Date.UTC(y, m, billingDay);
  const to = Date.UTC(m === 11 ? y + 1 : y, (m + 1) % 12, billingDay);
  return { id: utcDay(from), from, to };
}
