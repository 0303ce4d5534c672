import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { SessionClient, startSystem, type System } from '../support/system.js';
import { runPlugin } from '../support/plugin.js';

const SAMPLE = fileURLToPath(new URL('../../deploy/sample/license.yaml', import.meta.url));

/** `kubectl mirrord license status` against a gateway running with the sample licence (25 seats). */
describe('kubectl mirrord license status', () => {
  let sys: System;
  before(async () => {
    sys = await startSystem({ OPERATOR_LICENSE_FILE: SAMPLE });
  });
  after(async () => {
    await sys?.stop();
  });

  it('shows expiry, seat mode and the seats two users took this period, in text and JSON', async () => {
    // given two users' sessions (token clients: a user is their seat), one of them twice
    for (const token of ['alice-token', 'alice-token', 'bob-token']) {
      const { client } = await SessionClient.connect(sys, { token });
      await client!.close();
    }
    // when the licence status is asked
    const text = await runPlugin(sys, ['license', 'status']);
    const json = await runPlugin(sys, ['license', 'status', '-o', 'json']);
    // then it names the licence and counts two seats of 25
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^License: mirrord-teams local \(Example Org\)$/m);
    assert.match(text.stdout, /^Expires: 2027-12-31 \(\d+d\d+h left\)$/m);
    assert.match(text.stdout, /^Seat mode: machine$/m);
    assert.match(text.stdout, /^Seats this billing period \(since \d{4}-\d{2}-01\): 2 of 25$/m);
    const j = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.equal(j.seats_used, 2);
    assert.equal(j.seats_licensed, 25);
    assert.equal(j.subscription_id, 'example-subscription');
    // and a bad format is refused naming the option
    const bad = await runPlugin(sys, ['license', 'status', '-o', 'yaml']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--output: expected text or json/);
  });
});
