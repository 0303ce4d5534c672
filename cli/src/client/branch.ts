import { execFileSync } from 'node:child_process';

/**
 * The git branch the client reports at session start (`branch_name`), as the mirrord CLI does:
 * `git branch --show-current`; nothing on a detached HEAD (jj) or outside a repository.
 * `MIRRORD_BRANCH_NAME` overrides it.
 */
export function currentBranch(cwd = process.cwd(), env: NodeJS.ProcessEnv = process.env): string | undefined {
  const forced = env.MIRRORD_BRANCH_NAME?.trim();
  if (forced) return forced;
  try {
    const out = execFileSync('git', ['branch', '--show-current'], {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5000,
    }).trim();
    return out === '' ? undefined : out;
  } catch {
    return undefined;
  }
}
