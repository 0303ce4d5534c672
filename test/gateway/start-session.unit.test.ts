import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { isAppError } from '#shared/errors/index.js';
import { formatTarget } from '#shared/targets/index.js';
import { startSession, type StartSessionDeps } from '../../services/gateway/src/app/start-session.js';
import { parseConnectRequest } from '../../services/gateway/src/domain/connect-request.js';
import type { PolicyDecision } from '../../services/gateway/src/domain/interfaces.js';

/** The use case against in-memory collaborators: what each was asked, in order. */
function world(
  opts: { policy?: PolicyDecision; ledgerFails?: boolean; live?: { target: string; client_user: string } } = {},
) {
  const calls: string[] = [];
  const deps: StartSessionDeps = {
    log: pino({ level: 'silent' }),
    authz: { authorize: async () => (calls.push('authorize'), { allowed: true }) },
    targets: {
      resolve: async (_who, namespace, target) => (
        calls.push('resolve'),
        { target, path: formatTarget(target), namespace }
      ),
      list: async () => [],
    },
    policy: {
      evaluateStart: async () => (calls.push('policy'), opts.policy ?? { allowed: true }),
      evaluatePort: async () => ({ allowed: true }),
      explain: async () => ({}) as never,
    },
    agents: {
      prepare: async () => (calls.push('prepare'), { agent: 'job' }) as never,
      release: async () => void calls.push('release'),
      copyTargets: async () => [],
      createCopy: async () => ({}) as never,
      deleteCopy: async () => false,
    },
    ledger: {
      command: async (verb) => {
        calls.push(`ledger.${verb}`);
        if (verb === 'start' && opts.ledgerFails) throw new Error('store down');
        return { events: [], warnings: [], resumed: verb === 'start' && !!opts.live };
      },
      session: async () => (
        calls.push('ledger.session'),
        {
          session: opts.live
            ? { id: '00000000000000AA', status: 'live', namespace: 'default', end_reason: null, ...opts.live }
            : null,
        }
      ),
    },
  };
  return { deps, calls };
}
const who = { user: 'alice', uid: '1002', groups: [] as string[] };
const client = {
  client_user: 'alice',
  client_name: 'Alice',
  client_hostname: 'mbp',
  client_id: '',
  user_id: '',
  client_cli_version: '',
};
const request = (target: string, headers: Record<string, string> = {}) =>
  parseConnectRequest({ namespace: 'default', name: target }, {}, headers, () => '00000000000000AA');

describe('start session (the use case behind the connect call)', () => {
  it('given policy refuses, then the refusal is recorded, no agent is prepared and the start is Forbidden', async () => {
    const w = world({ policy: { allowed: false, message: 'steal is forbidden', policy: 'default/p' } });
    await assert.rejects(startSession(w.deps, who, request('deployment.boats'), client), (e) =>
      isAppError(e, 'Forbidden'),
    );
    assert.deepEqual(w.calls, ['resolve', 'authorize', 'policy', 'ledger.reject']);
  });
  it('given the ledger cannot record the start, then the prepared agent is released', async () => {
    const w = world({ ledgerFails: true });
    await assert.rejects(startSession(w.deps, who, request('deployment.app'), client));
    assert.deepEqual(w.calls, ['resolve', 'authorize', 'policy', 'prepare', 'ledger.start', 'release']);
  });
  it('given a resume on another target, then it is a Conflict before authorisation or policy is asked', async () => {
    const w = world({ live: { target: 'deployment/boats', client_user: 'alice' } });
    await assert.rejects(
      startSession(w.deps, who, request('deployment.other', { 'x-session-id': '170' }), client),
      (e) => isAppError(e, 'Conflict'),
    );
    assert.deepEqual(w.calls, ['resolve', 'ledger.session']);
  });
  it('given a resume on the same target, then it gets the agent it has, and a failed record never releases it', async () => {
    const w = world({ live: { target: 'deployment/boats', client_user: 'alice' } });
    const s = await startSession(w.deps, who, request('deployment.boats', { 'x-session-id': '170' }), client);
    assert.equal(s.resumed, true);
    // agent-manager answers a prepare of a live session with its running agent.
    assert.ok(w.calls.includes('prepare'));
    assert.ok(!w.calls.includes('release'));
  });
  it('given an unknown client-chosen id, then a new session starts with it', async () => {
    const w = world({});
    const s = await startSession(w.deps, who, request('deployment.boats', { 'x-session-id': '171' }), client);
    assert.equal(s.resumed, false);
    assert.equal(s.req.session_id, '00000000000000AB');
  });
});
