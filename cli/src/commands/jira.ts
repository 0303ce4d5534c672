import type { Command } from 'commander';
import { call, resolveGateway, type GlobalOptions } from '../client/gateway.js';
import { operatorApi } from '#shared/contracts/http.js';

export function registerJira(program: Command, globals: () => GlobalOptions): void {
  const jira = program.command('jira').description('the Jira integration');
  jira
    .command('retry')
    .description('deliver the session reports parked after JIRA_RETRY_FOR (the dead-letter stream)')
    .action(async () => {
      const gw = await resolveGateway(globals());
      const r = await call(gw, operatorApi.jiraRetry, { params: { name: 'operator' } });
      process.stdout.write(
        `${r.delivered} parked report${r.delivered === 1 ? '' : 's'} delivered, ${r.failed} still failing\n`,
      );
      for (const e of r.errors) process.stderr.write(`  ${e}\n`);
      process.exitCode = r.failed > 0 ? 1 : 0;
    });
}
