import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  operatorJson,
  operatorObject,
  type LedgerSessionView,
  type OperatorInfo,
} from '../../services/gateway/src/adapters/http/resources.js';

const T0 = Date.parse('2026-12-08T00:00:00Z');

function view(i: number, extra: Partial<LedgerSessionView> = {}): LedgerSessionView {
  return {
    id: `00000000000000${i.toString(16).padStart(2, '0')}`.toUpperCase(),
    status: 'live',
    started_at: T0 + i * 137,
    ended_at: null,
    end_reason: null,
    killed_by: null,
    target: `deployment/app-${i}/container/main`,
    namespace: 'default',
    client_user: 'alice',
    client_name: 'Alice "A" Ä',
    client_hostname: 'laptop',
    client_id: 'c',
    user_id: 'u1',
    client_cli_version: '3.250.0',
    key: null,
    profile: null,
    branch_name: null,
    seat: null,
    ci: null,
    admission: null,
    ports: [{ port: 80, mode: 'steal', http_filter: null, lock: 1, since: T0 }],
    ...extra,
  };
}

const split = (queue_type: 'SQS' | 'Kafka', fallback?: string) => ({
  queue_type,
  queue_id: 'q1',
  original: 'orders',
  output: 'orders-tmp',
  filter: 'kind=a.*',
  message_filter: { kind: 'a.*' },
  mode: 'steal' as const,
  client_config: 'cfg',
  since: T0,
  ...(fallback ? { fallback } : {}),
});

function info(sessions: LedgerSessionView[], now: number, quiet?: Record<string, number>): OperatorInfo {
  return {
    version: '0.1.0',
    protocolVersion: '1.29.0',
    fingerprint: 'ab',
    organization: 'mirrord-teams',
    defaultNamespace: 'default',
    license: undefined,
    sessions,
    now,
    ...(quiet ? { quiet } : {}),
    dau: 1,
    mau: 2,
    seats: { used: 1, period_start: '2026-12-01' },
    copyTargets: [],
    startedAt: T0,
  };
}

describe('operator status as JSON: the same bytes as the object, fresh per view', () => {
  const sessions = [
    view(1),
    view(2, { key: 'k', ports: [{ port: 80, mode: 'steal', http_filter: 'header=x-user: a', lock: 0, since: T0 }] }),
    view(3, { ports: [], splits: [split('SQS')] }),
    view(4, { splits: [split('Kafka', 'orders-fallback-1')], ended_at: T0 + 5000 }),
    view(5, { user_id: undefined as unknown as string }),
  ];

  it('given sessions of every shape, when serialised, then the text is JSON.stringify of the operator object', () => {
    for (const now of [T0 + 999, T0 + 61_234]) {
      const o = info(sessions, now, { [sessions[0]!.id]: T0 + 10, [sessions[2]!.id]: T0 + 500 });
      assert.equal(operatorJson(o), JSON.stringify(operatorObject(o)));
      // Asked again (its pieces kept): still the same, with the clock's numbers of that moment.
      assert.equal(operatorJson(o), JSON.stringify(operatorObject(o)));
    }
    assert.equal(operatorJson(info([], T0)), JSON.stringify(operatorObject(info([], T0))));
  });

  it('given a session the ledger changed (a new view of it), when serialised again, then the change shows', () => {
    const before = [view(7)];
    const first = JSON.parse(operatorJson(info(before, T0 + 5000))) as { status: { sessions: unknown[] } };
    assert.equal(first.status.sessions.length, 1);
    const changed = [view(7, { ports: [] }), view(8)];
    const o = info(changed, T0 + 5000);
    assert.equal(operatorJson(o), JSON.stringify(operatorObject(o)));
    const next = JSON.parse(operatorJson(o)) as { status: { sessions: Array<{ locked_ports: unknown[] }> } };
    assert.equal(next.status.sessions.length, 2);
    assert.deepEqual(next.status.sessions[0]!.locked_ports, []);
  });
});
