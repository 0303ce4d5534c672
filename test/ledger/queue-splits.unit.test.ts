import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deciderSpec } from '../support/decider-spec.js';
import { validateEvent, type LedgerEvent } from '#shared/events/index.js';
import { decide } from '../../services/ledger/src/domain/decide.js';
import { evolve } from '../../services/ledger/src/domain/evolve.js';
import { initialState } from '../../services/ledger/src/domain/state.js';
import { liveViews } from '../../services/ledger/src/domain/live-view.js';
import { splitsAt } from '../../services/ledger/src/domain/status-at.js';
import type {
  EndQueueSplit,
  LedgerCommand,
  StartQueueSplit,
  StartSession,
} from '../../services/ledger/src/domain/commands.js';

let n = 0;
let now = 1_000_000;
const ctx = () => ({ now, newEventId: () => `00000000-0000-7000-8000-${String(++n).padStart(12, '0')}` });
const spec = deciderSpec({ initialState, evolve, decide }, ctx);

const A = '00000000000000AA';
const B = '00000000000000BB';
const start = (id: string, user = 'alice'): StartSession => ({
  type: 'StartSession',
  session_id: id,
  target: 'deployment/orders',
  namespace: 'shop',
  agent: 'none',
  client: {
    client_user: user,
    client_name: user,
    client_hostname: `${user}-mbp`,
    client_id: '',
    user_id: '',
    client_cli_version: '3.250.0',
  },
});
const split = (id: string, over: Partial<StartQueueSplit> = {}): StartQueueSplit => ({
  type: 'StartQueueSplit',
  session_id: id,
  queue_type: 'SQS',
  queue_id: 'orders',
  original: 'orders-queue',
  output: `mirrord-tmp-${id.toLowerCase()}-orders-queue`,
  filter: 'tenant=^alice$',
  message_filter: { tenant: '^alice$' },
  mode: 'steal',
  ...over,
});
const endSplit = (id: string, messages = 3): EndQueueSplit => ({
  type: 'EndQueueSplit',
  session_id: id,
  queue_type: 'SQS',
  queue_id: 'orders',
  output: `mirrord-tmp-${id.toLowerCase()}-orders-queue`,
  messages,
  reason: 'SessionEnded',
});
const endSession = (id: string): LedgerCommand => ({
  type: 'EndSession',
  session_id: id,
  client_user: 'alice',
  reason: 'ClientClosed',
});

/** Runs commands through decide+evolve; every event must pass the shared validator. */
function history(...cmds: LedgerCommand[]): LedgerEvent[] {
  const st = initialState();
  const all: LedgerEvent[] = [];
  for (const c of cmds) {
    now += 1000;
    for (const e of decide(c, st, ctx()).events) {
      validateEvent(e);
      evolve(st, e);
      all.push(e);
    }
  }
  return all;
}

describe('ledger decider: queue splits', () => {
  it('records a split of a live session with its client fields, the queue-splitter as actor', () => {
    spec
      .given(history(start(A)))
      .when(split(A))
      .then([
        {
          type: 'QueueSplitStarted',
          session_id: A,
          version: 2,
          actor: { system: 'queue-splitter' },
          data: {
            target: 'deployment/orders',
            namespace: 'shop',
            client_user: 'alice',
            queue_type: 'SQS',
            queue_id: 'orders',
            original: 'orders-queue',
            output: 'mirrord-tmp-00000000000000aa-orders-queue',
            filter: 'tenant=^alice$',
            message_filter: { tenant: '^alice$' },
            mode: 'steal',
          },
        },
      ]);
  });

  it('refuses a split of a session that is not live, and a second split of the same queue', () => {
    spec
      .given([])
      .when(split(A))
      .thenThrows('NotFound', /session 00000000000000AA not found/);
    spec
      .given(history(start(A), endSession(A)))
      .when(split(A))
      .thenThrows('Conflict', /already ended/);
    spec
      .given(history(start(A), split(A)))
      .when(split(A, { output: 'other' }))
      .thenThrows('Conflict', /already split to mirrord-tmp-00000000000000aa-orders-queue; end that split/);
    // a retried start of the very same split records nothing
    spec
      .given(history(start(A), split(A)))
      .when(split(A))
      .then([]);
  });

  it('ends a split on a live or an ended session, once', () => {
    spec
      .given(history(start(A), split(A)))
      .when(endSplit(A, 7))
      .then([
        { type: 'QueueSplitEnded', version: 3, data: { messages: 7, reason: 'SessionEnded', client_user: 'alice' } },
      ]);
    // the session ended first: the queue-splitter's cleanup still lands, with the client fields
    spec
      .given(history(start(A), split(A), endSession(A)))
      .when(endSplit(A))
      .then([{ type: 'QueueSplitEnded', session_id: A, version: 4, data: { target: 'deployment/orders' } }]);
    // a second end of the same split is a no-op with a warning
    const again = spec
      .given(history(start(A), split(A), endSession(A), endSplit(A)))
      .when(endSplit(A))
      .then([]);
    assert.match(again.warnings[0]!, /is not open; nothing recorded/);
    spec
      .given(history(start(A), split(A), endSplit(A)))
      .when(endSplit(A))
      .then([]);
  });

  it('records workload patch and restore on the causing session, live or ended', () => {
    const w = {
      namespace: 'shop',
      target: 'deployment/orders',
      queue_type: 'SQS',
      queue_id: 'orders',
      env: 'ORDERS_QUEUE',
    } as const;
    spec
      .given(history(start(A), split(A)))
      .when({
        type: 'RecordWorkloadPatched',
        session_id: A,
        ...w,
        original: 'orders-queue',
        fallback: 'mirrord-tmp-fb',
      })
      .then([
        {
          type: 'WorkloadPatched',
          session_id: A,
          version: 3,
          actor: { system: 'queue-splitter' },
          data: { ...w, fallback: 'mirrord-tmp-fb' },
        },
      ]);
    spec
      .given(history(start(A), split(A), endSession(A), endSplit(A)))
      .when({ type: 'RecordWorkloadRestored', session_id: A, ...w, drained: 4 })
      .then([{ type: 'WorkloadRestored', version: 5, data: { ...w, drained: 4 } }]);
    spec
      .given([])
      .when({ type: 'RecordWorkloadRestored', session_id: B, ...w, drained: 0 })
      .thenThrows('NotFound', /needs a started session/);
  });

  it('ends a session whose split could not be set up with SetupFailed, by the queue-splitter', () => {
    spec
      .given(history(start(A)))
      .when({ type: 'EndSession', session_id: A, client_user: 'alice', reason: 'SetupFailed' })
      .then([{ type: 'SessionEnded', actor: { system: 'queue-splitter' }, data: { reason: 'SetupFailed' } }]);
  });
});

describe('ledger views: live splits', () => {
  it('shows a live session’s splits until they end or the session ends; status --at shows them then', () => {
    const kafka = split(A, {
      queue_type: 'Kafka',
      queue_id: 'payments',
      original: 'payments',
      output: 'mirrord-tmp-x-payments',
      mode: 'mirror',
      client_config: 'base-config',
    });
    const events = history(start(A), split(A), kafka, start(B, 'bob'));
    const st = initialState();
    for (const e of events) evolve(st, e);
    const [a, b] = liveViews(st);
    assert.deepEqual(
      a!.splits!.map((s) => [s.queue_type, s.queue_id, s.original, s.output, s.filter, s.mode, s.client_config]),
      [
        ['Kafka', 'payments', 'payments', 'mirrord-tmp-x-payments', 'tenant=^alice$', 'mirror', 'base-config'],
        [
          'SQS',
          'orders',
          'orders-queue',
          'mirrord-tmp-00000000000000aa-orders-queue',
          'tenant=^alice$',
          'steal',
          undefined,
        ],
      ],
    );
    assert.deepEqual(a!.splits![1]!.message_filter, { tenant: '^alice$' });
    assert.equal(b!.splits, undefined, 'a session without splits carries no field');

    const splitTime = events[1]!.time;
    const later = history(start(A), split(A), kafka, endSplit(A), endSession(A));
    const mine = later.filter((e) => e.session_id === A);
    assert.deepEqual(splitsAt(mine, splitTime - 1), []);
    assert.deepEqual(
      splitsAt(mine, mine[2]!.time).map((s) => s.queue_id),
      ['payments', 'orders'],
    );
    assert.deepEqual(
      splitsAt(mine, mine[3]!.time).map((s) => s.queue_id),
      ['payments'],
      'QueueSplitEnded removes the split',
    );
    assert.deepEqual(splitsAt(mine), [], 'the session ended: no live split');
    const st2 = initialState();
    for (const e of later) evolve(st2, e);
    assert.deepEqual(liveViews(st2), []);
  });
});
