import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backoffMs, jiraKeyOf, planReport } from '../../services/jira-reporter/src/domain/report.js';
import type { SessionView } from '#shared/ledger/index.js';

const session = (branch: string | null): SessionView => ({
  id: '487F4F2B6D2376AD',
  status: 'ended',
  started_at: Date.parse('2026-11-20T10:00:00Z'),
  ended_at: Date.parse('2026-11-20T10:05:00Z'),
  end_reason: 'ClientClosed',
  killed_by: null,
  target: 'deployment/ip-visit-counter',
  namespace: 'default',
  client_user: 'aviram@metalbear.co',
  client_name: 'Aviram Hassan',
  client_hostname: 'mbp',
  client_id: 'c',
  user_id: 'u',
  client_cli_version: '3.150.0',
  key: 'secret-session-key',
  profile: 'p',
  branch_name: branch,
  seat: null,
  ci: null,
  admission: null,
  ports: [{ port: 80, mode: 'steal', http_filter: 'header=x-secret: .+', lock: 1, since: 0 }],
});

describe('Jira key from the branch (case-sensitive, as the Monitoring document)', () => {
  const cases: Array<[string | null, string | undefined]> = [
    ['my-new-branch-KEY-123-latest', 'KEY-123'],
    ['KEY-1', 'KEY-1'],
    ['feature/PROJ_2-77-fix', 'PROJ_2-77'],
    ['my-new-branch-key-123-latest', undefined],
    ['main', undefined],
    ['KEY-0', undefined],
    ['xKEY-123', undefined],
    [null, undefined],
  ];
  for (const [branch, key] of cases)
    it(`${String(branch)} → ${String(key)}`, () => assert.equal(jiraKeyOf(branch), key));
});

describe('the report', () => {
  it('carries only the issue key, session, duration, user, target and times', () => {
    const p = planReport(session('my-new-branch-KEY-123-latest'), 300, 0);
    assert.equal(p.kind, 'send');
    assert.deepEqual(p.kind === 'send' && p.report, {
      issue_key: 'KEY-123',
      session_id: '487F4F2B6D2376AD',
      duration_secs: 300,
      user: 'aviram@metalbear.co',
      target: 'deployment/ip-visit-counter',
      namespace: 'default',
      started_at: '2026-11-20T10:00:00.000Z',
      ended_at: '2026-11-20T10:05:00.000Z',
    });
    const text = JSON.stringify(p);
    for (const secret of ['secret-session-key', 'x-secret', 'client_id', 'user_id'])
      assert.ok(!text.includes(secret), secret);
  });
  it('says why it skips: no branch, or a branch without a key', () => {
    assert.deepEqual(planReport(session(null), 1, 0), {
      kind: 'skip',
      why: 'no branch name was received from the client (not on a git branch, a detached HEAD such as jj, or an older mirrord)',
    });
    assert.match((planReport(session('main'), 1, 0) as { why: string }).why, /branch "main" holds no Jira issue key/);
  });
  it('backs off exponentially with jitter, capped', () => {
    assert.equal(
      backoffMs(0, 60_000, () => 0),
      500,
    );
    assert.equal(
      backoffMs(0, 60_000, () => 1),
      1000,
    );
    assert.equal(
      backoffMs(3, 60_000, () => 1),
      8000,
    );
    assert.equal(
      backoffMs(20, 60_000, () => 1),
      60_000,
    );
    assert.ok(backoffMs(20, 60_000, () => 0) >= 30_000);
  });
});
