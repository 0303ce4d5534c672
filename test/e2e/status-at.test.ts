import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { http, API, SessionClient, startSystem, type System } from '../support/system.js';
import { runPlugin } from '../support/plugin.js';

const users = (out: string) => ({
  daily: /^Operator Daily Users: (\d+)$/m.exec(out)?.[1],
  monthly: /^Operator Monthly Users: (\d+)$/m.exec(out)?.[1],
});

/** `operator status --at T` is history: users, seats and sessions as of T, said so, never the future. */
describe('operator status --at: every statistic as of then', () => {
  let sys: System;
  before(async () => {
    sys = await startSystem();
  });
  after(async () => {
    await sys?.stop();
  });

  it('counts users as of T: 0 before any session, 1 once alice has one, while now counts her', async () => {
    // given a moment before any session, then alice's live session
    const before = new Date(Date.now() - 1000).toISOString();
    const empty = await runPlugin(sys, ['operator', 'status', '--at', '2020-01-01T00:00:00Z']);
    assert.equal(empty.status, 0, empty.stderr);
    assert.deepEqual(users(empty.stdout), { daily: '0', monthly: '0' });
    const alice = (await SessionClient.connect(sys, { token: 'alice-token', target: 'deployment.at-a' })).client!;
    // the client chose its id: the session is the ledger's once it has recorded its start
    await sys.ledger.waitFor((l) => l.msg === 'Session Started' && l.session_id === alice.id);
    const during = new Date().toISOString();

    // when status is asked now, as of 2020, as of just before the session and as of during it
    const now = await runPlugin(sys, ['operator', 'status']);
    const old = await runPlugin(sys, ['operator', 'status', '--at', '2020-01-01T00:00:00Z']);
    const justBefore = await runPlugin(sys, ['operator', 'status', '--at', before]);
    const then = await runPlugin(sys, ['operator', 'status', '--at', during]);

    // then now and during count alice; 2020 and just before count nobody, each saying as of when
    assert.deepEqual(users(now.stdout), { daily: '1', monthly: '1' });
    assert.doesNotMatch(now.stdout, /^As of/m, 'the present says no "as of"');
    assert.equal(old.status, 0, old.stderr);
    assert.deepEqual(users(old.stdout), { daily: '0', monthly: '0' });
    assert.match(old.stdout, /^As of 2020-01-01T00:00:00\.000Z \(users, seats and sessions as they were then\)$/m);
    assert.match(old.stdout, /^Sessions active at 2020-01-01T00:00:00\.000Z:$/m);
    assert.ok(!old.stdout.includes('deployment/at-a'));
    assert.deepEqual(users(justBefore.stdout), { daily: '0', monthly: '0' });
    assert.deepEqual(users(then.stdout), { daily: '1', monthly: '1' });
    assert.match(then.stdout, /deployment\/at-a/);
    // and the seats are those of then too: none in 2020, alice's machine during her session
    const seats = async (at: string) =>
      (
        (await http(sys, 'GET', `${API}/mirrordoperators/operator?at=${at}`, 'admin-token')).body.status as {
          statistics: { seats_used?: number };
        }
      ).statistics.seats_used;
    assert.equal(await seats('2020-01-01T00:00:00Z'), 0);
    assert.equal(await seats(during), 1);
    await alice.close();
  });

  it('refuses a future time with one line naming --at (the plugin) or at (the API)', async () => {
    // given a time a year ahead
    const future = new Date(Date.now() + 365 * 24 * 3600 * 1000).toISOString();
    // when status is asked as of then
    const r = await runPlugin(sys, ['operator', 'status', '--at', future]);
    const api = await http(sys, 'GET', `${API}/mirrordoperators/operator?at=${future}`, 'admin-token');
    // then the plugin exits non-zero with one line, and the API answers 422 naming at
    assert.notEqual(r.status, 0);
    assert.equal(r.stdout, '');
    assert.equal(
      r.stderr,
      `error: --at: "${future}" is in the future (status --at shows the past; leave it out for the present)\n`,
    );
    assert.equal(api.status, 422);
    assert.match(String(api.body.message), /^at: ".*" is in the future \(now is .*\)/);
  });
});
