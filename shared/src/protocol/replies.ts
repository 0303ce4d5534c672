import { encode, type CodecType } from './codec.js';
import type { SocketAddressValue, StealTypeValue } from './grammar/base.js';
import type { responseError } from './grammar/error.js';
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
  const text = `forbidden by ${why.policy ? `the mirrord policy "${why.policy}"` : 'a mirrord policy'}${why.reason ? ` (${why.reason})` : ''}`;
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

/** EACCES: what a connect refused by a local rule reports on Linux. */
const EACCES = 13;

/** A connect the gateway refuses itself, by a policy's network.outgoing rules. */
export interface RefusedConnect {
  protocol: 'TCP' | 'UDP';
  address: SocketAddressValue;
  /** ConnectV2's id: the answer carries it back (legacy Connect is answered in request order). */
  uid?: bigint;
}

/**
 * The answer to a refused connect, for the client's protocol version: from 1.25.0
 * `ForbiddenWithReason` with `BlockedAction::OutgoingTcp/Udp` naming the policy (the real layer
 * then stops the run with that reason); before, a permission error, after a warning
 * (`LogMessage`) with the same words, since older clients cannot decode the blocked action.
 */
export function connectRefused(
  version: string,
  c: RefusedConnect,
  why: { policy: string; reason: string },
): Uint8Array[] {
  const policy_name = why.policy;
  const modern = atLeast(version, Gate.OutgoingPolicy);
  const error: Extract<CodecType<typeof responseError>, { $: 'ForbiddenWithReason' | 'RemoteIO' }> = modern
    ? {
        $: 'ForbiddenWithReason',
        v: {
          blocked_action: { $: c.protocol === 'TCP' ? 'OutgoingTcp' : 'OutgoingUdp', v: c.address },
          policy_name,
          reason: why.reason,
        },
      }
    : { $: 'RemoteIO', v: { raw_os_error: EACCES, kind: { $: 'PermissionDenied', v: null } } };
  const v: Extract<DaemonMessage, { $: 'TcpOutgoing' }>['v'] =
    c.uid !== undefined
      ? { $: 'ConnectV2', v: { uid: c.uid, connect: { $: 'Err', v: error } } }
      : { $: 'Connect', v: { $: 'Err', v: error } };
  const answer = frame({ $: c.protocol === 'TCP' ? 'TcpOutgoing' : 'UdpOutgoing', v });
  if (modern) return [answer];
  // The sentence the modern client prints for ForbiddenWithReason (`protocol/src/error.rs`).
  const a = c.address;
  const where =
    a.$ === 'Ip' ? (a.v.ip.includes(':') ? `[${a.v.ip}]:${a.v.port}` : `${a.v.ip}:${a.v.port}`) : 'a unix socket';
  const message = `Outgoing ${c.protocol} connection to ${where} is forbidden by the mirrord policy "${policy_name}" for this target (${why.reason}).`;
  return [frame({ $: 'LogMessage', v: { message, level: { $: 'Warn' } } }), answer];
}
