import { bool, enumOf, map, str, struct, u128, unit, vec, version, type CodecType } from '../codec.js';
import { remoteResult } from './error.js';
import { fileRequest, fileResponse } from './file.js';
import {
  clientVpn,
  daemonPauseTarget,
  daemonSeqpacket,
  daemonTcpOutgoing,
  daemonUdpOutgoing,
  getAddrInfoRequest,
  getAddrInfoRequestV2,
  getAddrInfoResponse,
  layerSeqpacket,
  layerTcpOutgoing,
  layerUdpOutgoing,
  reverseDnsLookupRequest,
  reverseDnsLookupResponse,
  serverVpn,
} from './outgoing.js';
import { daemonTcp, layerTcp, layerTcpSteal } from './tcp.js';

/** `protocol/src/codec.rs` of mirrord-protocol 1.29.0: the two top-level messages. */

/** What a mirrord client (CLI, intproxy) sends towards the agent. */
export const clientMessage = enumOf('ClientMessage', {
  Close: unit,
  Tcp: layerTcp,
  TcpSteal: layerTcpSteal,
  TcpOutgoing: layerTcpOutgoing,
  UdpOutgoing: layerUdpOutgoing,
  FileRequest: fileRequest,
  GetEnvVarsRequest: struct('GetEnvVarsRequest', { env_vars_filter: vec(str), env_vars_select: vec(str) }),
  Ping: unit,
  GetAddrInfoRequest: getAddrInfoRequest,
  PauseTargetRequest: bool,
  SwitchProtocolVersion: version,
  ReadyForLogs: unit,
  Vpn: clientVpn,
  GetAddrInfoRequestV2: getAddrInfoRequestV2,
  OperatorPong: u128,
  ReverseDnsLookup: reverseDnsLookupRequest,
  SeqpacketOutgoing: layerSeqpacket,
  ShareLink: enumOf('ShareLinkRequest', { RegisterKey: str, RemoveKey: str }),
});
export type ClientMessage = CodecType<typeof clientMessage>;

/** What the agent (or the operator in its place) sends to the client. */
export const daemonMessage = enumOf('DaemonMessage', {
  Close: str,
  Tcp: daemonTcp,
  TcpSteal: daemonTcp,
  TcpOutgoing: daemonTcpOutgoing,
  UdpOutgoing: daemonUdpOutgoing,
  LogMessage: struct('LogMessage', {
    message: str,
    level: enumOf('LogLevel', { Warn: unit, Error: unit, Info: unit }),
  }),
  File: fileResponse,
  Pong: unit,
  GetEnvVarsResponse: remoteResult(map(str, str)),
  GetAddrInfoResponse: getAddrInfoResponse,
  PauseTarget: daemonPauseTarget,
  SwitchProtocolVersionResponse: version,
  Vpn: serverVpn,
  OperatorPing: u128,
  ReverseDnsLookup: reverseDnsLookupResponse,
  SeqpacketOutgoing: daemonSeqpacket,
});
export type DaemonMessage = CodecType<typeof daemonMessage>;
