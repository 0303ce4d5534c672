/** mirrord-protocol versions: the one we speak, and the gates for what the gateway emits. */

/** The protocol version the gateway understands and publishes (`MirrordOperator.spec.protocol_version`). */
export const PROTOCOL_VERSION = '1.29.0';

/** Before a client names its version (`SwitchProtocolVersion`), assume the oldest one we serve. */
export const BASELINE_VERSION = '1.2.0';

/** First versions with a feature (`protocol/src/error.rs`, `codec.rs`). */
export const Gate = Object.freeze({
  BlockedMirror: '1.12.0',
  ForbiddenWithReason: '1.17.0',
  OperatorPing: '1.19.8',
  /** `LayerConnectV2` / `DaemonConnectV2` (`outgoing.rs` OUTGOING_CONNECT_V2). */
  ConnectV2: '1.22.0',
  /** `BlockedAction::OutgoingTcp` / `OutgoingUdp` (the operator's outgoing network policy). */
  OutgoingPolicy: '1.25.0',
  SystemFailure: '1.28.0',
});

const parts = (v: string): number[] =>
  v
    .split(/[-+]/)[0]!
    .split('.')
    .map((x) => Number(x) || 0);

/** `a >= b` by major.minor.patch (pre-release tags are not used by mirrord's gates). */
export function atLeast(a: string, b: string): boolean {
  const x = parts(a);
  const y = parts(b);
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) > (y[i] ?? 0);
  return true;
}

/** What a client and we agree on: the lower of the two. */
export function negotiated(client: string): string {
  return atLeast(client, PROTOCOL_VERSION) ? PROTOCOL_VERSION : client;
}
