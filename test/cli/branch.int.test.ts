import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { currentBranch } from '../../cli/src/client/branch.js';
import { tempDir } from '../support/tmp.js';

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@t',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@t',
    },
  });

describe('the branch the plugin reports (branch_name)', () => {
  it('is git branch --show-current; none on a detached HEAD (jj) or outside a repository; MIRRORD_BRANCH_NAME overrides', () => {
    const dir = tempDir('repo');
    git(dir, 'init', '-q', '-b', 'my-new-branch-KEY-123-latest');
    writeFileSync(join(dir, 'f'), 'x');
    git(dir, 'add', 'f');
    git(dir, 'commit', '-qm', 'c');
    assert.equal(currentBranch(dir, {}), 'my-new-branch-KEY-123-latest');
    git(dir, 'checkout', '-q', '--detach');
    assert.equal(currentBranch(dir, {}), undefined);
    assert.equal(currentBranch(dir, { MIRRORD_BRANCH_NAME: 'override-OPS-9' }), 'override-OPS-9');
    assert.equal(currentBranch(tempDir('plain'), {}), undefined);
  });
});
