import type { Command } from 'commander';
import { invalid } from '#shared/errors/index.js';
import { sessionIdCandidates } from '#shared/ids/index.js';
import { call, resolveGateway, type GlobalOptions } from '../client/gateway.js';
import { operatorApi } from '#shared/contracts/http.js';
import { print } from '../render/output.js';
import { renderOperatorStatus, renderPortLocks } from '../render/status.js';

/**
 * `--at` is history: a time ahead of this machine's clock is refused here, naming the flag (the
 * gateway refuses it too, by its own clock). Durations (`2h`) always reach back.
 */
function refuseFuture(at: string): void {
  const t = Date.parse(at);
  if (/^\d{4}-/.test(at.trim()) && t > Date.now())
    throw invalid('--at', `"${at}" is in the future`, 'status --at shows the past; leave it out for the present');
}

export function registerOperator(program: Command, globals: () => GlobalOptions): void {
  const op = program.command('operator').description('the mirrord operator (gateway) and its sessions');
  op.command('status')
    .description('operator version, license and active sessions')
    .option('-o, --output <format>', 'json | yaml | wide (wide: also the port locks)')
    .option('-n, --namespace <ns>', 'only sessions in this namespace')
    .option('-A, --all-namespaces', 'sessions in every namespace (the default)')
    .option(
      '--at <time>',
      'the sessions as they were at this moment (RFC3339, or a duration back: 2h), rebuilt from events',
    )
    .action(async (o: { output?: string; namespace?: string; allNamespaces?: boolean; at?: string }) => {
      if (o.output && !['json', 'yaml', 'wide'].includes(o.output))
        throw new Error(`--output: expected json, yaml or wide, got "${o.output}"`);
      if (o.at !== undefined) refuseFuture(o.at);
      const gw = await resolveGateway(globals());
      const status = await call(gw, operatorApi.operator, o.at ? { query: new URLSearchParams({ at: o.at }) } : {});
      const ns = o.allNamespaces ? undefined : o.namespace;
      if (ns !== undefined) status.status.sessions = status.status.sessions.filter((s) => s.namespace === ns);
      if (await print(status, o.output)) return;
      process.stdout.write(
        renderOperatorStatus(status, undefined, o.at === undefined ? undefined : (status.status.observed_at ?? o.at)),
      );
      if (o.output === 'wide') process.stdout.write(`\n${renderPortLocks(status.status.sessions)}`);
    });
  const session = op.command('session').description('manage operator sessions');
  session
    .command('kill')
    .description('forcefully stop one session (RBAC verb delete on sessions)')
    .requiredOption('--id <id>', 'session id: 16 hex digits as in status, or the decimal u64')
    .action(async (o: { id: string }) => {
      sessionIdCandidates(o.id, '--id');
      const gw = await resolveGateway(globals());
      const r = await call(gw, operatorApi.killSession, { params: { id: o.id } });
      process.stdout.write(`${r.message}\n`);
    });
  session
    .command('kill-all')
    .description('forcefully stop ALL sessions (RBAC verb deletecollection on sessions)')
    .option('-n, --namespace <ns>', 'only sessions in this namespace')
    .action(async (o: { namespace?: string }) => {
      const gw = await resolveGateway(globals());
      const r = o.namespace
        ? await call(gw, operatorApi.killNamespaceSessions, { params: { namespace: o.namespace } })
        : await call(gw, operatorApi.killSessions);
      process.stdout.write(`${r.message}\n`);
    });
}
