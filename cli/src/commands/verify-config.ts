import type { Command } from 'commander';
import { renderIssues } from '#shared/mirrord-config/index.js';
import { verifyConfigFile } from '../client/mirrord-config.js';
import { print } from '../render/output.js';

/**
 * `kubectl mirrord verify-config FILE…`: the mirrord CLI's offline check. Exit 0 when every
 * file is valid; otherwise 1, with every problem named by its path.
 */
export function registerVerifyConfig(program: Command): void {
  program
    .command('verify-config')
    .description('check mirrord config files offline (templates rendered from the environment)')
    .argument('<files...>', 'mirrord.json / .yaml files')
    .option('-o, --output <format>', 'json | yaml (the normalised config, or the errors)')
    .action(async (files: string[], o: { output?: string }) => {
      if (o.output && !['json', 'yaml'].includes(o.output))
        throw new Error(`--output: expected json or yaml, got "${o.output}"`);
      const results = files.map((file) => {
        const r = verifyConfigFile(file);
        return r.ok
          ? { file, type: 'Success' as const, config: r.config, ...(r.warnings.length ? { warnings: r.warnings } : {}) }
          : { file, type: 'Fail' as const, errors: r.issues };
      });
      const failed = results.some((r) => r.type === 'Fail');
      if (!(await print(results.length === 1 ? results[0] : results, o.output))) {
        for (const r of results) {
          if (r.type === 'Success')
            process.stdout.write(
              `${r.file}: valid\n${(r.warnings ?? []).map((w) => `  warning: ${w.path}: ${w.message}\n`).join('')}`,
            );
          else
            process.stderr.write(
              `${r.file}: ${r.errors.length} error${r.errors.length === 1 ? '' : 's'}\n${renderIssues(r.errors).replace(/^/gm, '  ')}\n`,
            );
        }
      }
      process.exitCode = failed ? 1 : 0;
    });
}
