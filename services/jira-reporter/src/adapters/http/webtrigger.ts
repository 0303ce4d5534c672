import { context, propagation, SpanKind } from '@opentelemetry/api';
import { inSpan } from '#shared/otel/index.js';
import type { JiraReport } from '../../domain/report.js';

export type Delivery = { ok: true; status: number; link?: string } | { ok: false; status?: number; detail: string };

/**
 * POSTs one report to the Forge webtrigger. The idempotency key (the Session Ended event id)
 * lets the receiver drop a repeat after a crash between its answer and our ack.
 */
export async function deliver(
  url: string,
  report: JiraReport,
  idempotencyKey: string,
  timeoutMs: number,
): Promise<Delivery> {
  return inSpan(
    'POST jira webtrigger',
    SpanKind.CLIENT,
    context.active(),
    { 'http.request.method': 'POST', 'server.address': safeHost(url) },
    async () => {
      const headers: Record<string, string> = { 'content-type': 'application/json', 'idempotency-key': idempotencyKey };
      propagation.inject(context.active(), headers);
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers,
          body: JSON.stringify(report),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (e) {
        const err = e as Error;
        return {
          ok: false,
          detail:
            err.name === 'TimeoutError'
              ? `no answer within ${timeoutMs} ms`
              : `${err.message}${err.cause ? ` (${String((err.cause as Error).message ?? err.cause)})` : ''}`,
        };
      }
      const text = await res.text().catch(() => '');
      if (!res.ok)
        return { ok: false, status: res.status, detail: `HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}` };
      let link: string | undefined;
      try {
        const body = JSON.parse(text) as { issue_url?: unknown; url?: unknown };
        const l = body.issue_url ?? body.url;
        if (typeof l === 'string') link = l;
      } catch {
        /* a plain-text answer is fine */
      }
      return link ? { ok: true, status: res.status, link } : { ok: true, status: res.status };
    },
  );
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '';
  }
}
