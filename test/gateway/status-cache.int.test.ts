import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sessionIdToDecimal } from '#shared/ids/index.js';
import { API, http, SessionClient, startSystem, type System } from '../support/system.js';

type Status = { status: { sessions: Array<{ id: string }> } };
const statusIds = async (sys: System): Promise<string[]> =>
  ((await http(sys, 'GET', `${API}/mirrordoperators/operator`)).body as unknown as Status).status.sessions.map(
    (s) => s.id,
  );

describe('operator status: never older than what the same user just did', () => {
  let sys: System;
  before(async () => {
    sys = await startSystem();
  });
  after(async () => {
    await sys?.stop();
  });

  it('given a status just read, when a session starts and then is killed, then the next status shows each at once', async () => {
    const idsBefore = await statusIds(sys);
    await statusIds(sys);
    const { client } = await SessionClient.connect(sys);
    assert.ok(client);
    assert.ok((await statusIds(sys)).includes(client.id), 'the started session is listed');
    const del = await http(sys, 'DELETE', `${API}/sessions/${sessionIdToDecimal(client.id)}`, 'admin-token');
    assert.equal(del.status, 200);
    const idsAfter = await statusIds(sys);
    assert.ok(!idsAfter.includes(client.id), 'the killed session is gone');
    assert.deepEqual(idsAfter, idsBefore);
    await client.waitFor((m) => m.type === 'closed');
  });
});
