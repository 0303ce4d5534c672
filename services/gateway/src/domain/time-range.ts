import { invalid } from '#shared/errors/index.js';
import { parseDurationMs } from '#shared/format/duration.js';

/** `since`/`until`: RFC3339, or a duration back from now (`2h`, `30m`, `1h30m`, `7d`). */
export function parseTimeBound(field: string, raw: string, now: number): number {
  const s = raw.trim();
  const back = parseDurationMs(s);
  if (back !== undefined) {
    if (back > now)
      throw invalid(field, `"${raw}" reaches back before 1970`, 'use a shorter duration or an RFC3339 time');
    return now - back;
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(s)) {
    const t = Date.parse(s);
    if (!Number.isNaN(t)) {
      if (t < 0) throw invalid(field, `"${raw}" is before 1970`, 'use a time from 1970-01-01T00:00:00Z on');
      return t;
    }
    throw invalid(field, `"${raw}" is not a valid date`, 'check the month, day and hour are in range');
  }
  throw invalid(field, `"${raw}" is neither an RFC3339 time nor a duration`, 'e.g. 2026-11-20T10:00:00Z or 2h');
}

export function encodeCursor(position: number): string {
  return Buffer.from(`p:${position}`).toString('base64url');
}

export function decodeCursor(raw: string): number {
  const m = /^p:(\d+)$/.exec(Buffer.from(raw, 'base64url').toString());
  const n = m ? Number(m[1]) : NaN;
  if (!Number.isSafeInteger(n))
    throw invalid(
      'continue',
      'is not a cursor this server issued',
      'pass metadata.continue from the previous page unchanged',
    );
  return n;
}
