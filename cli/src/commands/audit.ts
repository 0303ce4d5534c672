import type { Command } from 'commander';
import { invalid } from '#shared/errors/index.js';
import { parseTarget, formatTarget } from '#shared/targets/index.js';
import { call, resolveGateway, type GlobalOptions } from '../client/gateway.js';
import { operatorApi, type EventItem } from '#shared/contracts/http.js';
import { renderAudit } from '../render/audit.js';
import { print } from '../render/output.js';

interface AuditOptions {
  user?: string;
  target?: string;
  namespace?: string;
  since?: string;
  until?: string;
  limit: string;
  output?: string;
}

/** `kubectl mirrord audit`: who did what when, from the ledger's event history (paged). */
export function registerAudit(program: Command, globals: () => GlobalOptions): void {
  program
    .command('audit')
    .description(
      'who did what when: starts, steals with filters, releases, kills and who killed, refusals with the policy',
    )
    .option('--user <user>', 'Kubernetes user (client_user)')
    .option('--target <target>', 'deployment/x, pod/x, …')
    .option('-n, --namespace <ns>', 'namespace')
    .option('--since <time>', 'RFC3339 time or a duration back from now (2h, 30m, 7d)')
    .option('--until <time>', 'RFC3339 time or a duration back from now')
    .option('--limit <n>', 'at most this many events (newest pages are fetched until it is reached)', '1000')
    .option('-o, --output <format>', 'json | yaml')
    .action(async (o: AuditOptions) => {
      if (o.output && !['json', 'yaml'].includes(o.output))
        throw invalid('--output', `expected json or yaml, got "${o.output}"`);
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1)
        throw invalid('--limit', `expected a positive integer, got "${o.limit}"`);
      const q = new URLSearchParams();
      if (o.user) q.set('user', o.user);
      if (o.target) q.set('target', formatTarget(parseTarget(o.target, '--target')));
      if (o.namespace) q.set('namespace', o.namespace);
      if (o.since) q.set('since', o.since);
      if (o.until) q.set('until', o.until);
      const gw = await resolveGateway(globals());
      const events: EventItem[] = [];
      let cont: string | undefined;
      do {
        const page = new URLSearchParams(q);
        page.set('limit', String(Math.min(1000, limit - events.length)));
        if (cont) page.set('continue', cont);
        const r = await call(gw, operatorApi.events, { query: page });
        events.push(...r.items);
        cont = r.metadata.continue;
      } while (cont && events.length < limit);
      if (!(await print({ items: events }, o.output))) process.stdout.write(renderAudit(events));
    });
}
