import assert from 'node:assert/strict';
import { isAppError, type ErrorCode } from '#shared/errors/index.js';

/**
 * given(events).when(command).then(expected) — the emmett habit for deciders. Expected events
 * are matched as partial objects, in order, so tests state what matters and ignore ids/time.
 */
export interface Decider<Cmd, State, Evt, Ctx, Out extends { events: Evt[] }> {
  initialState: () => State;
  evolve: (s: State, e: Evt) => State;
  decide: (cmd: Cmd, s: State, ctx: Ctx) => Out;
}

export function deciderSpec<Cmd, State, Evt, Ctx, Out extends { events: Evt[] }>(
  d: Decider<Cmd, State, Evt, Ctx, Out>,
  ctx: () => Ctx,
) {
  return {
    given(events: Evt[]) {
      return {
        when(cmd: Cmd) {
          const run = (): Out => {
            const state = events.reduce(d.evolve, d.initialState());
            return d.decide(cmd, state, ctx());
          };
          return {
            then(expected: Array<Record<string, unknown>>): Out {
              const out = run();
              assert.equal(
                out.events.length,
                expected.length,
                `expected ${expected.length} events, got ${JSON.stringify(out.events, null, 1)}`,
              );
              expected.forEach((exp, i) => assertPartial(out.events[i], exp, `events[${i}]`));
              return out;
            },
            /** Refused: thrown, or returned as `refused` beside the events that record the refusal. */
            thenThrows(code: ErrorCode, message?: RegExp): void {
              const refusing = () => {
                const out = run() as Out & { refused?: unknown };
                if (out.refused) throw out.refused;
                return out;
              };
              assert.throws(refusing, (e: unknown) => {
                assert.ok(isAppError(e, code), `expected ${code}, got ${String(e)}`);
                if (message) assert.match((e as Error).message, message);
                return true;
              });
            },
          };
        },
      };
    },
  };
}

export function assertPartial(actual: unknown, expected: unknown, path = 'value'): void {
  if (expected !== null && typeof expected === 'object' && !Array.isArray(expected)) {
    assert.ok(
      actual !== null && typeof actual === 'object',
      `${path}: expected an object, got ${JSON.stringify(actual)}`,
    );
    for (const [k, v] of Object.entries(expected))
      assertPartial((actual as Record<string, unknown>)[k], v, `${path}.${k}`);
    return;
  }
  assert.deepEqual(actual, expected, `${path}`);
}
