import { Command, CommanderError } from 'commander';
import { isAppError } from '#shared/errors/index.js';
import { VERSION } from '#shared/version.js';
import type { GlobalOptions } from './client/gateway.js';

type Register = (program: Command, globals: () => GlobalOptions) => void;

/**
 * The top-level commands, each loaded only when invoked: a plugin call starts in the time of
 * the one command it runs (`--version` loads none), not of every command's dependencies.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  operator: async () => (await import('./commands/operator.js')).registerOperator,
  session: async () => (await import('./commands/session.js')).registerSession,
  'verify-config': async () => (await import('./commands/verify-config.js')).registerVerifyConfig,
  policy: async () => (await import('./commands/policy.js')).registerPolicy,
  jira: async () => (await import('./commands/jira.js')).registerJira,
  audit: async () => (await import('./commands/audit.js')).registerAudit,
  license: async () => (await import('./commands/license.js')).registerLicense,
};
/** Global options that take a value, skipped when looking for the command name. */
const VALUED = new Set(['--gateway', '--token', '--context']);

/** The command this invocation names, or undefined (help, an unknown word, no command). */
function invokedCommand(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (VALUED.has(a)) i++;
    else if (!a.startsWith('-')) return Object.hasOwn(COMMANDS, a) ? a : undefined;
  }
  return undefined;
}

/** kubectl-mirrord: the kubectl plugin for mirrord-teams (`kubectl mirrord …`). */
const program = new Command('kubectl-mirrord')
  .description('mirrord-teams control plane client (kubectl plugin)')
  .version(VERSION)
  .option('--gateway <url>', 'gateway URL (else MIRRORD_GATEWAY, else the kubeconfig context)')
  .option('--token <token>', 'bearer token (else MIRRORD_TOKEN, else the kubeconfig user)')
  .option('--context <name>', 'kubeconfig context (else the current one)')
  // Every error one line: commander's own (and its "Did you mean") joined, with where to look.
  .configureOutput({
    outputError: (str, write) => write(`${str.trim().replace(/\s*\n\s*/g, ' ')} (see --help)\n`),
  })
  .exitOverride();

const globals = (): GlobalOptions => program.opts<GlobalOptions>();

/** Runs one plugin invocation; the exit code goes to process.exitCode (output may still be flushing). */
async function main(argv: readonly string[]): Promise<void> {
  try {
    const args = argv.slice(2);
    const named = invokedCommand(args);
    // Help, an unknown command (for commander's suggestion) or none at all: every command, for the list.
    const wanted = named ? [named] : args.some((a) => a === '-V' || a === '--version') ? [] : Object.keys(COMMANDS);
    for (const name of wanted) (await COMMANDS[name]!())(program, globals);
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode;
    } else {
      const msg = isAppError(e) ? e.message : e instanceof Error ? e.message : String(e);
      process.stderr.write(`error: ${msg}\n`);
      process.exitCode = 1;
    }
  }
}

// No top-level await: the single executable runs this file as CommonJS.
void main(process.argv);
