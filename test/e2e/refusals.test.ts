/**
 * Issue 25, small items: a refusal says what is wrong and what to do. `jira retry` with no
 * jira-reporter running printed the bus' raw "no responders"; an audit window whose `until` is
 * before its `since` answered 200 with nothing, as if nothing had happened.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { API, http, startSystem, type System } from '../support/system.js';
import { runPlugin } from '../support/plugin.js';

describe('refusals that say what to do', () => {
  let sys: System;
  before(async () => {
    sys = await startSystem();
  });
  after(async () => {
    await sys?.stop();
  });

  it('given no jira-reporter, when kubectl mirrord jira retry runs, then it says none is running and how to start one', async () => {
    const r = await runPlugin(sys, ['jira', 'retry']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /no jira-reporter is running/);
    assert.match(r.stderr, /JIRA_WEBTRIGGER_URL/);
    assert.doesNotMatch(r.stderr, /no responders/);
  });

  it('given until before since, when the audit trail is asked, then it is refused 422 Invalid naming until', async () => {
    const since = new Date(Date.now() - 60_000).toISOString();
    const until = new Date(Date.now() - 120_000).toISOString();
    const res = await http(sys, 'GET', `${API}/events?since=${since}&until=${until}`, 'admin-token');
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal(res.body.reason, 'Invalid');
    assert.match(String(res.body.message), /^until: is before since/);
    // Equal bounds are a (narrow) window, not a mistake.
    assert.equal((await http(sys, 'GET', `${API}/events?since=${since}&until=${since}`, 'admin-token')).status, 200);
    const cli = await runPlugin(sys, ['audit', '--since', '1h', '--until', '2h']);
    assert.notEqual(cli.status, 0);
    assert.match(cli.stderr, /until: is before since/);
  });
});
