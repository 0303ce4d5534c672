import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  agentHealth,
  sweepAgent,
  usersOf,
  usesLabel,
  type AgentJobView,
} from '../../services/agent-manager/src/domain/shared-agents.js';

const IDLE = 'mirrord.metalbear.co/idle-since';
const job = (o: { users?: string[]; idleSince?: string; dead?: boolean; targetGone?: boolean }): AgentJobView => ({
  labels: Object.fromEntries((o.users ?? []).map((u) => [usesLabel(u), 'true'])),
  annotations: o.idleSince ? { [IDLE]: o.idleSince } : ({} as Record<string, string>),
  dead: o.dead ?? false,
  targetGone: o.targetGone ?? false,
});
const at = Date.parse('2026-12-02T10:00:00Z');
const TTL = 60_000;

describe('one agent per target: what the sweeper does with an agent Job', () => {
  it('given sessions using it, when swept, then it is kept, even marked idle (a leaving and a joining session raced)', () => {
    assert.equal(sweepAgent(job({ users: ['A'] }), at, TTL), 'keep');
    assert.equal(sweepAgent(job({ users: ['A'], idleSince: '2026-12-01T00:00:00Z', dead: true }), at, TTL), 'keep');
  });

  it('given no users and no idle mark (a crash between leaving and marking), when swept, then it is marked idle', () => {
    assert.equal(sweepAgent(job({}), at, TTL), 'mark-idle');
  });

  it('given idle for less than the TTL, then kept; for the TTL or more, then deleted', () => {
    assert.equal(sweepAgent(job({ idleSince: new Date(at - TTL + 1).toISOString() }), at, TTL), 'keep');
    assert.equal(sweepAgent(job({ idleSince: new Date(at - TTL).toISOString() }), at, TTL), 'delete');
  });

  it('given no users and a dead agent or a vanished target, then deleted at once', () => {
    assert.equal(sweepAgent(job({ dead: true }), at, TTL), 'delete');
    assert.equal(sweepAgent(job({ targetGone: true, idleSince: new Date(at).toISOString() }), at, TTL), 'delete');
  });

  it("given a Job's labels, then its users are the session ids of the uses labels only", () => {
    assert.deepEqual(usersOf({ app: 'mirrord-agent', [usesLabel('0A1B')]: 'true', [usesLabel('FFEE')]: 'true' }), [
      '0A1B',
      'FFEE',
    ]);
  });

  it("given its pods' phases, then an agent runs, is starting, or is dead only when every pod ended", () => {
    assert.equal(agentHealth(['Failed', 'Running']), 'running');
    assert.equal(agentHealth(['Pending']), 'starting');
    assert.equal(agentHealth([]), 'starting');
    assert.equal(agentHealth(['Failed', 'Succeeded']), 'dead');
  });
});
