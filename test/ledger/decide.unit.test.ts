import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deciderSpec } from '../support/decider-spec.js';
import { decide } from '../../services/ledger/src/domain/decide.js';
import { evolve } from '../../services/ledger/src/domain/evolve.js';
import { initialState } from '../../services/ledger/src/domain/state.js';
import { expiredSessions } from '../../services/ledger/src/domain/session-end.js';
import type {
  ClientInfo,
  LedgerCommand,
  StartSession,
  SubscribePort,
} from '../../services/ledger/src/domain/commands.js';
import type { LedgerEvent } from '#shared/events/index.js';

let n = 0;
let now = 1_000_000;
const ctx = () => ({ now, newEventId: () => `00000000-0000-7000-8000-${String(++n).padStart(12, '0')}` });
const spec = deciderSpec({ initialState, evolve, decide }, ctx);

const alice: ClientInfo = {
  client_user: 'alice',
  client_name: 'Alice',
  client_hostname: 'a-mbp',
  client_id: '',
  user_id: '',
  client_cli_version: '3.150.0',
};
const bob: ClientInfo = { ...alice, client_user: 'bob', client_name: 'Bob', client_hostname: 'b-mbp' };
const A = '00000000000000AA';
const B = '00000000000000BB';
const C = '00000000000000CC';

/** Runs commands through decide+evolve to produce a history for `given`. */
function history(...cmds: LedgerCommand[]): LedgerEvent[] {
  const st = initialState();
  const all: LedgerEvent[] = [];
  for (const c of cmds) {
    const out = decide(c, st, ctx());
    for (const e of out.events) {
      evolve(st, e);
      all.push(e);
    }
  }
  return all;
}
const start = (id: string, client = alice, target = 'deployment/ip-visit-counter'): StartSession => ({
  type: 'StartSession',
  session_id: id,
  target,
  namespace: 'default',
  client,
  agent: 'none',
});
const steal = (
  id: string,
  user: string,
  port: number,
  filter?: string,
  on: 'abort' | 'continue' | 'override' = 'abort',
): SubscribePort => ({
  type: 'SubscribePort',
  session_id: id,
  client_user: user,
  port,
  mode: 'steal',
  on_concurrent_steal: on,
  ...(filter ? { http_filter: filter } : {}),
});

describe('ledger decider: start', () => {
  it('starts a session with the seed fields and version 1', () => {
    spec
      .given([])
      .when({ ...start(A), target: 'deploy/ip-visit-counter', key: 'k1', branch_name: 'feat-KEY-1' })
      .then([
        {
          type: 'SessionStarted',
          session_id: A,
          version: 1,
          data: {
            target: 'deployment/ip-visit-counter',
            namespace: 'default',
            client_user: 'alice',
            client_name: 'Alice',
            client_hostname: 'a-mbp',
            key: 'k1',
            branch_name: 'feat-KEY-1',
            agent: 'none',
          },
        },
      ]);
  });
  it('treats a start of a live session by its owner as a reconnect', () => {
    const out = spec
      .given(history(start(A)))
      .when(start(A))
      .then([]);
    assert.equal(out.resumed, true);
  });
  it('refuses another user reusing a live session id', () => {
    spec
      .given(history(start(A)))
      .when(start(A, bob))
      .thenThrows('Forbidden', /another user/);
  });
  it('refuses restarting an ended session', () => {
    spec
      .given(history(start(A), { type: 'EndSession', session_id: A, client_user: 'alice', reason: 'ClientClosed' }))
      .when(start(A))
      .thenThrows('Conflict', /already ended/);
  });
  it('refuses a malformed target and namespace, naming the field', () => {
    spec
      .given([])
      .when(start(A, alice, 'deployment/'))
      .thenThrows('Invalid', /^target:/);
    spec
      .given([])
      .when(start(A, alice, 'ingress/x'))
      .thenThrows('Invalid', /unknown target type "ingress"/);
    spec
      .given([])
      .when({ ...start(A), namespace: 'Bad_NS' })
      .thenThrows('Invalid', /^namespace:/);
  });
  it('continues the version after a recorded copy', () => {
    const copied: LedgerCommand = {
      type: 'RecordTargetCopied',
      session_id: A,
      target: 'deployment/x',
      namespace: 'default',
      client: alice,
      scale_down: true,
      copy_pod: 'x-copy',
      original_replicas: 2,
    };
    spec
      .given(history(copied))
      .when(start(A))
      .then([{ type: 'SessionStarted', version: 2 }]);
  });
});

describe('ledger decider: ports and locks', () => {
  it('steals an unfiltered port with the lock', () => {
    spec
      .given(history(start(A)))
      .when(steal(A, 'alice', 80))
      .then([{ type: 'PortStolen', version: 2, data: { port: 80, lock: true } }]);
  });
  it('records the rendered filter', () => {
    spec
      .given(history(start(A)))
      .when(steal(A, 'alice', 80, 'header=X-PG-Tenant: Avi.+'))
      .then([{ type: 'PortStolen', data: { port: 80, http_filter: 'header=X-PG-Tenant: Avi.+', lock: true } }]);
  });
  it('re-subscribing the same port the same way is idempotent', () => {
    spec
      .given(history(start(A), steal(A, 'alice', 80, 'header=x')))
      .when(steal(A, 'alice', 80, 'header=x'))
      .then([]);
  });
  it('changing a held subscription needs an unsubscribe first', () => {
    spec
      .given(history(start(A), steal(A, 'alice', 80)))
      .when(steal(A, 'alice', 80, 'header=x'))
      .thenThrows('Conflict', /unsubscribe it first/);
  });
  it('unfiltered steal conflicts with any steal on the same key (abort names the holder)', () => {
    const h = history(start(A), steal(A, 'alice', 80, 'header=a'), start(B, bob));
    spec
      .given(h)
      .when(steal(B, 'bob', 80))
      .thenThrows('PortAlreadyStolen', new RegExp(`session ${A} \\(user alice\\) with filter header=a`));
  });
  it('filtered steal conflicts with an unfiltered one', () => {
    spec
      .given(history(start(A), steal(A, 'alice', 80), start(B, bob)))
      .when(steal(B, 'bob', 80, 'header=b'))
      .thenThrows('PortAlreadyStolen', /without a filter/);
  });
  it('filtered steal conflicts with an identical filter', () => {
    spec
      .given(history(start(A), steal(A, 'alice', 80, 'header=a'), start(B, bob)))
      .when(steal(B, 'bob', 80, 'header=a'))
      .thenThrows('PortAlreadyStolen');
  });
  it('different filters coexist; a shadowed one is warned', () => {
    spec
      .given(history(start(A), steal(A, 'alice', 80, 'header=a'), start(B, bob)))
      .when(steal(B, 'bob', 80, 'header=b'))
      .then([{ type: 'PortStolen', data: { lock: true } }]);
    const out = spec
      .given(history(start(A), steal(A, 'alice', 80, 'header=X-PG-Tenant: .*'), start(B, bob)))
      .when(steal(B, 'bob', 80, 'header=X-PG-Tenant: Avi.+'))
      .then([{ type: 'PortStolen' }]);
    assert.equal(out.warnings.length, 1);
    assert.match(out.warnings[0]!, new RegExp(`session ${A} already steals port 80`));
  });
  it('other ports, targets and namespaces do not conflict; container does not split the key', () => {
    const h = history(
      start(A),
      steal(A, 'alice', 80),
      start(B, bob, 'deployment/other'),
      start(C, bob, 'deployment/ip-visit-counter/container/app'),
    );
    spec
      .given(h)
      .when(steal(B, 'bob', 80))
      .then([{ type: 'PortStolen' }]);
    spec
      .given(h)
      .when(steal(A, 'alice', 81))
      .then([{ type: 'PortStolen' }]);
    spec
      .given(h)
      .when(steal(C, 'bob', 80))
      .thenThrows('PortAlreadyStolen');
    const other = history(start(A), steal(A, 'alice', 80), { ...start(B, bob), namespace: 'other' });
    spec
      .given(other)
      .when(steal(B, 'bob', 80))
      .then([{ type: 'PortStolen', data: { lock: true } }]);
  });
  it('mirror never conflicts', () => {
    spec
      .given(history(start(A), steal(A, 'alice', 80), start(B, bob)))
      .when({
        type: 'SubscribePort',
        session_id: B,
        client_user: 'bob',
        port: 80,
        mode: 'mirror',
        on_concurrent_steal: 'abort',
      })
      .then([{ type: 'PortMirrored', data: { port: 80 } }]);
  });
  it('continue records the steal without the lock', () => {
    spec
      .given(history(start(A), steal(A, 'alice', 80), start(B, bob)))
      .when(steal(B, 'bob', 80, undefined, 'continue'))
      .then([{ type: 'PortStolen', session_id: B, data: { lock: false } }]);
  });
  it('a released lock frees the key', () => {
    const h = history(
      start(A),
      steal(A, 'alice', 80),
      { type: 'UnsubscribePort', session_id: A, client_user: 'alice', port: 80 },
      start(B, bob),
    );
    spec
      .given(h)
      .when(steal(B, 'bob', 80))
      .then([{ type: 'PortStolen', data: { lock: true } }]);
  });
  it('a lock-less steal does not block others', () => {
    const h = history(
      start(A),
      steal(A, 'alice', 80),
      start(B, bob),
      steal(B, 'bob', 80, undefined, 'continue'),
      { type: 'KillSession', session_id: A, by: 'admin' },
      start(C),
    );
    spec
      .given(h)
      .when(steal(C, 'alice', 80))
      .then([{ type: 'PortStolen', data: { lock: true } }]);
  });
  it('override closes the holder session: its ports released as Overridden, then Session Ended', () => {
    const h = history(
      start(A),
      steal(A, 'alice', 80),
      {
        type: 'SubscribePort',
        session_id: A,
        client_user: 'alice',
        port: 9090,
        mode: 'mirror',
        on_concurrent_steal: 'abort',
      },
      start(B, bob),
    );
    spec
      .given(h)
      .when(steal(B, 'bob', 80, undefined, 'override'))
      .then([
        { type: 'PortReleased', session_id: A, version: 4, data: { port: 80, reason: 'Overridden' } },
        { type: 'PortReleased', session_id: A, version: 5, data: { port: 9090, reason: 'Overridden' } },
        {
          type: 'SessionEnded',
          session_id: A,
          version: 6,
          data: { reason: 'Overridden', killed_by: B, client_user: 'alice' },
          actor: { client_user: 'bob' },
        },
        { type: 'PortStolen', session_id: B, version: 2, data: { port: 80, lock: true } },
      ]);
  });
  it('refuses bad ports, modes and a filtered mirror, naming the field', () => {
    const h = history(start(A));
    spec
      .given(h)
      .when(steal(A, 'alice', 0))
      .thenThrows('Invalid', /^port:/);
    spec
      .given(h)
      .when(steal(A, 'alice', 70000))
      .thenThrows('Invalid', /^port:/);
    spec
      .given(h)
      .when({
        type: 'SubscribePort',
        session_id: A,
        client_user: 'alice',
        port: 80,
        mode: 'mirror',
        http_filter: 'header=x',
        on_concurrent_steal: 'abort',
      })
      .thenThrows('Invalid', /^http_filter:/);
    spec
      .given(h)
      .when({ ...steal(A, 'alice', 80), mode: 'stael' as 'steal' })
      .thenThrows('Invalid', /^mode:/);
  });
  it('refuses ports on unknown, ended or foreign sessions', () => {
    spec
      .given([])
      .when(steal(A, 'alice', 80))
      .thenThrows('NotFound');
    spec
      .given(history(start(A), { type: 'KillSession', session_id: A, by: 'x' }))
      .when(steal(A, 'alice', 80))
      .thenThrows('Conflict');
    spec
      .given(history(start(A)))
      .when(steal(A, 'bob', 80))
      .thenThrows('Forbidden');
  });
  it('unsubscribe releases; an unheld port is NotFound', () => {
    spec
      .given(history(start(A), steal(A, 'alice', 80)))
      .when({ type: 'UnsubscribePort', session_id: A, client_user: 'alice', port: 80 })
      .then([{ type: 'PortReleased', data: { port: 80, reason: 'Unsubscribed' } }]);
    spec
      .given(history(start(A)))
      .when({ type: 'UnsubscribePort', session_id: A, client_user: 'alice', port: 80 })
      .thenThrows('NotFound');
  });
});

describe('ledger decider: ending', () => {
  it('end releases each port, then ends with the whole-second duration', () => {
    now = 1_000_000;
    const h = history(start(A), steal(A, 'alice', 80, 'header=x'));
    now = 1_004_900;
    spec
      .given(h)
      .when({ type: 'EndSession', session_id: A, client_user: 'alice', reason: 'ClientClosed' })
      .then([
        { type: 'PortReleased', data: { port: 80, reason: 'SessionEnded' } },
        { type: 'SessionEnded', data: { reason: 'ClientClosed', session_duration: 4 } },
      ]);
  });
  it('double end is a Conflict; unknown session is NotFound', () => {
    spec
      .given(history(start(A), { type: 'EndSession', session_id: A, client_user: 'alice', reason: 'ClientClosed' }))
      .when({ type: 'EndSession', session_id: A, client_user: 'alice', reason: 'ClientClosed' })
      .thenThrows('Conflict', /already ended \(ClientClosed\)/);
    spec.given([]).when({ type: 'KillSession', session_id: A, by: 'x' }).thenThrows('NotFound');
  });
  it('kill records who killed', () => {
    spec
      .given(history(start(A)))
      .when({ type: 'KillSession', session_id: A, by: 'admin' })
      .then([
        { type: 'SessionEnded', actor: { client_user: 'admin' }, data: { reason: 'Killed', killed_by: 'admin' } },
      ]);
  });
  it('kill-all ends every live session, optionally per namespace', () => {
    const h = history(start(A), start(B, bob), { ...start(C), namespace: 'other' });
    spec
      .given(h)
      .when({ type: 'KillAll', by: 'admin' })
      .then([
        { type: 'SessionEnded', session_id: A },
        { type: 'SessionEnded', session_id: B },
        { type: 'SessionEnded', session_id: C },
      ]);
    spec
      .given(h)
      .when({ type: 'KillAll', by: 'admin', namespace: 'other' })
      .then([{ type: 'SessionEnded', session_id: C, data: { namespace: 'other' } }]);
    spec.given([]).when({ type: 'KillAll', by: 'admin' }).then([]);
  });
  it('expiry ends with Unused by the system, and is a no-op after an end', () => {
    spec
      .given(history(start(A)))
      .when({ type: 'ExpireSession', session_id: A, reason: 'Unused' })
      .then([{ type: 'SessionEnded', actor: { system: 'expiry' }, data: { reason: 'Unused' } }]);
    spec
      .given(history(start(A), { type: 'KillSession', session_id: A, by: 'x' }))
      .when({ type: 'ExpireSession', session_id: A, reason: 'Unused' })
      .then([]);
  });
  it('a lost gateway releases the session’s ports (GatewayLost, by the system) and keeps the session; nothing once it ended', () => {
    spec
      .given(history(start(A), steal(A, 'alice', 80), steal(A, 'alice', 81, 'header=x: y')))
      .when({ type: 'ReleaseLostPorts', session_id: A })
      .then([
        { type: 'PortReleased', actor: { system: 'expiry' }, data: { port: 80, reason: 'GatewayLost' } },
        { type: 'PortReleased', actor: { system: 'expiry' }, data: { port: 81, reason: 'GatewayLost' } },
      ]);
    spec
      .given(history(start(A)))
      .when({ type: 'ReleaseLostPorts', session_id: A })
      .then([]);
    spec
      .given(history(start(A), steal(A, 'alice', 80), { type: 'KillSession', session_id: A, by: 'x' }))
      .when({ type: 'ReleaseLostPorts', session_id: A })
      .then([]);
    // The port is free for another session at once; the first stays live for a reconnect.
    const st = history(start(A), steal(A, 'alice', 80), start(B, bob)).reduce(evolve, initialState());
    for (const e of decide({ type: 'ReleaseLostPorts', session_id: A }, st, ctx()).events) evolve(st, e);
    assert.equal(st.sessions.get(A)?.status, 'live');
    assert.equal(decide(steal(B, 'bob', 80), st, ctx()).events[0]?.type, 'PortStolen');
  });
  it('expiry picks Unused after the TTL and TimeLimitExceeded past the maximum session time', () => {
    now = 1_000_000;
    const st = history(start(A), start(B, bob)).reduce(evolve, initialState());
    const seen = new Map([
      [A, 1_000_000],
      [B, 1_009_000],
    ]);
    assert.deepEqual(expiredSessions(st, seen, 1_010_000, 6000), [{ id: A, reason: 'Unused' }]);
    assert.deepEqual(expiredSessions(st, seen, 1_010_000, 6000, 5000), [
      { id: A, reason: 'TimeLimitExceeded' },
      { id: B, reason: 'TimeLimitExceeded' },
    ]);
    spec
      .given(history(start(A)))
      .when({ type: 'ExpireSession', session_id: A, reason: 'TimeLimitExceeded' })
      .then([{ type: 'SessionEnded', data: { reason: 'TimeLimitExceeded' } }]);
  });
  it('a rejection is recorded as an audit event', () => {
    spec
      .given([])
      .when({
        type: 'RejectSession',
        session_id: A,
        target: 'deployment/x',
        namespace: 'default',
        client: alice,
        asked: 'port',
        port: 80,
        mode: 'steal',
        code: 'Forbidden',
        message: 'steal is forbidden',
        policy: 'default/no-steal',
      })
      .then([
        {
          type: 'SessionRejected',
          version: 1,
          data: { asked: 'port', port: 80, code: 'Forbidden', policy: 'default/no-steal' },
        },
      ]);
  });
});

describe('ledger decider: a port refused because another holds it is recorded', () => {
  it('given alice holds port 80 unfiltered, when bob steals it with abort, then the refusal names the holder and is kept as an event', () => {
    const out = spec
      .given(history(start(A), steal(A, 'alice', 80), start(B, bob)))
      .when(steal(B, 'bob', 80))
      .then([
        {
          type: 'SessionRejected',
          session_id: B,
          data: {
            asked: 'port',
            port: 80,
            mode: 'steal',
            code: 'PortAlreadyStolen',
            held_by: A,
            held_by_user: 'alice',
            client_user: 'bob',
          },
        },
      ]);
    assert.equal(out.refused?.code, 'PortAlreadyStolen');
  });
});

describe('ledger decider: resume and limits (hardening)', () => {
  const limits = { maxPorts: 2, maxEvents: 6, maxSessionsPerUser: 2 };
  const limited = deciderSpec({ initialState, evolve, decide }, () => ({ ...ctx(), limits }));
  const unsubscribe = (id: string, port: number): LedgerCommand => ({
    type: 'UnsubscribePort',
    session_id: id,
    client_user: 'alice',
    port,
  });

  it('refuses a resume that names another target or namespace, so no lock is decided for the wrong target', () => {
    spec
      .given(history(start(A)))
      .when(start(A, alice, 'deployment/boats'))
      .thenThrows('Conflict', /runs on deployment\/ip-visit-counter in namespace default, not deployment\/boats/);
    spec
      .given(history(start(A)))
      .when({ ...start(A), namespace: 'books' })
      .thenThrows('Conflict', /not deployment\/ip-visit-counter in books/);
  });
  it('never creates a session from a client-chosen id (a wiped ledger cannot start a second version 1)', () => {
    spec
      .given([])
      .when({ ...start(A), resume: true })
      .thenThrows('NotFound', /is not live; start a new session without x-session-id/);
    const out = spec
      .given(history(start(A)))
      .when({ ...start(A), resume: true })
      .then([]);
    assert.equal(out.resumed, true);
  });
  it('refuses a user more live sessions than USER_MAX_SESSIONS, and counts ended ones out', () => {
    limited
      .given(history(start(A), start(B)))
      .when(start(C))
      .thenThrows('Forbidden', /already has 2 live sessions, the USER_MAX_SESSIONS limit \(2\)/);
    limited
      .given(
        history(start(A), start(B), {
          type: 'EndSession',
          session_id: A,
          client_user: 'alice',
          reason: 'ClientClosed',
        }),
      )
      .when(start(C))
      .then([{ type: 'SessionStarted' }]);
    limited
      .given(history(start(A), start(B)))
      .when(start(C, bob))
      .then([{ type: 'SessionStarted' }]);
  });
  it('refuses a third held port under SESSION_MAX_PORTS 2, but re-sending a held one is fine', () => {
    const held = history(start(A), steal(A, 'alice', 80), steal(A, 'alice', 81));
    limited
      .given(held)
      .when(steal(A, 'alice', 82))
      .thenThrows('Forbidden', /holds 2 subscriptions, the SESSION_MAX_PORTS limit \(2\)/);
    limited
      .given(held)
      .when(steal(A, 'alice', 80))
      .then([]);
  });
  it('lets a session that used its SESSION_MAX_EVENTS only end', () => {
    const used = history(
      start(A),
      steal(A, 'alice', 80),
      unsubscribe(A, 80),
      steal(A, 'alice', 80),
      unsubscribe(A, 80),
      steal(A, 'alice', 80),
    );
    assert.equal(used.length, 6);
    limited
      .given(used)
      .when(unsubscribe(A, 80))
      .thenThrows('Forbidden', /recorded 6 events, the SESSION_MAX_EVENTS limit \(6\)/);
    limited
      .given(used)
      .when(steal(A, 'alice', 81))
      .thenThrows('Forbidden', /SESSION_MAX_EVENTS/);
    limited
      .given(used)
      .when({ type: 'EndSession', session_id: A, client_user: 'alice', reason: 'ClientClosed' })
      .then([{ type: 'PortReleased' }, { type: 'SessionEnded' }]);
  });
});
