import { encode } from './codec.js';
import type { StealTypeValue } from './grammar/base.js';
import { daemonMessage, type DaemonMessage } from './grammar/messages.js';
import { atLeast, Gate } from './version.js';

/** Why the gateway refuses a subscription itself (it never reaches the agent). */
export type Refusal =
  | { kind: 'PortAlreadyStolen' }
  | { kind: 'Forbidden'; policy?: string; reason?: string }
  | { kind: 'SystemFailure'; can_retry: boolean; code: number; message: string };

/** The subscription a refusal answers. */
export interface RefusedSubscription {
  mode: 'mirror' | 'steal';
  port: number;
  steal?: StealTypeValue;
}

/** `SYSTEM_FAILURE_AGENT_LOST` (`protocol/src/error.rs`). */
export const AGENT_LOST = 1;

const frame = (m: DaemonMessage): Uint8Array => encode(daemonMessage, m);

export const closeMessage = (reason: string): Uint8Array => frame({ $: 'Close', v: reason });
export const pongMessage = (): Uint8Array => frame({ $: 'Pong' });

/** `Ok(port)` for a subscription, as the agent would answer it. */
export function subscribed(mode: 'mirror' | 'steal', port: number): Uint8Array {
  return frame({ $: mode === 'mirror' ? 'Tcp' : 'TcpSteal', v: { $: 'SubscribeResult', v: { $: 'Ok', v: port } } });
}

/**
 * A refused subscription, for the client's protocol version: `ForbiddenWithReason` from 1.17.0
 * (else `Forbidden`), `BlockedAction::Mirror` from 1.12.0, `SystemFailure` from 1.28.0. Where
 * the version has no way to say it, the answer is `Close` with the same words (the client ends
 * the session rather than waiting for an answer that never comes).
 */
export function refused(version: string, sub: RefusedSubscription, why: Refusal): Uint8Array {
  const wrap = (err: Extract<DaemonMessage, { $: 'Tcp' }>['v'] & { $: 'SubscribeResult' }) =>
    frame({ $: sub.mode === 'mirror' ? 'Tcp' : 'TcpSteal', v: err });
  if (why.kind === 'PortAlreadyStolen')
    return wrap({ $: 'SubscribeResult', v: { $: 'Err', v: { $: 'PortAlreadyStolen', v: sub.port } } });
  if (why.kind === 'SystemFailure') {
    if (!atLeast(version, Gate.SystemFailure)) return closeMessage(why.message);
    const { can_retry, code, message } = why;
    return wrap({ $: 'SubscribeResult', v: { $: 'Err', v: { $: 'SystemFailure', v: { can_retry, code, message } } } });
  }
  const text = `${why.reason ?? 'forbidden'}${why.policy ? ` (policy ${why.policy})` : ''}`;
  if (sub.mode === 'mirror' && !atLeast(version, Gate.BlockedMirror)) return closeMessage(text);
  const blocked_action =
    sub.mode === 'mirror'
      ? ({ $: 'Mirror', v: sub.port } as const)
      : ({ $: 'Steal', v: sub.steal ?? { $: 'All', v: sub.port } } as const);
  const policy_name = why.policy ?? null;
  if (why.reason !== undefined && atLeast(version, Gate.ForbiddenWithReason))
    return wrap({
      $: 'SubscribeResult',
      v: { $: 'Err', v: { $: 'ForbiddenWithReason', v: { blocked_action, policy_name, reason: why.reason } } },
    });
  return wrap({ $: 'SubscribeResult', v: { $: 'Err', v: { $: 'Forbidden', v: { blocked_action, policy_name } } } });
}
