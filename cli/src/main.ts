import { Command, CommanderError } from 'commander';
import { isAppError } from '#shared/errors/index.js';
import { VERSION } from '#shared/version.js';
import type { GlobalOptions } from './client/gateway.js';
import { registerOperator } from './commands/operator.js';
import { registerSession } from './commands/session.js';
import { registerVerifyConfig } from './commands/verify-config.js';
import { registerPolicy } from './commands/policy.js';
import { registerJira } from './commands/jira.js';
import { registerAudit } from './commands/audit.js';
import { registerLicense } from './commands/license.js';

/** kubectl-mirrord: the kubectl plugin for mirrord-teams (`kubectl mirrord …`). */
const program = new Command('kubectl-mirrord')
  .description('mirrord-teams control plane client (kubectl plugin)')
  .version(VERSION)
  .option('--gateway <url>', 'gateway URL (else MIRRORD_GATEWAY, else the kubeconfig context)')
  .option('--token <token>', 'bearer token (else MIRRORD_TOKEN, else the kubeconfig user)')
  .option('--context <name>', 'kubeconfig context (else the current one)')
  .showHelpAfterError()
  .exitOverride();

const globals = (): GlobalOptions => program.opts<GlobalOptions>();
registerOperator(program, globals);
registerSession(program, globals);
registerVerifyConfig(program);
registerPolicy(program, globals);
registerJira(program, globals);
registerAudit(program, globals);
registerLicense(program, globals);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode;
  } else {
    const msg = isAppError(e) ? e.message : e instanceof Error ? e.message : String(e);
    process.stderr.write(`error: ${msg}\n`);
    process.exitCode = 1;
  }
}
