import { bool, bytes, enumOf, i32, ip, str, struct, u128, u16, u64, unit, vec } from '../codec.js';
import { socketAddress } from './base.js';
import { remoteResult } from './error.js';

/** `protocol/src/outgoing*.rs`, `dns.rs`, `vpn.rs`, `pause.rs`. Variant order is the wire tag. */

const layerConnect = struct('LayerConnect', { remote_address: socketAddress });
const layerWrite = struct('LayerWrite', { connection_id: u64, bytes });
const layerClose = struct('LayerClose', { connection_id: u64 });
/** `Uid` is a UUID sent as its u128. */
const layerConnectV2 = struct('LayerConnectV2', { uid: u128, remote_address: socketAddress });
const daemonConnect = struct('DaemonConnect', {
  connection_id: u64,
  remote_address: socketAddress,
  local_address: socketAddress,
});
const daemonRead = remoteResult(struct('DaemonRead', { connection_id: u64, bytes }));
const daemonConnectV2 = struct('DaemonConnectV2', { uid: u128, connect: remoteResult(daemonConnect) });

const layerOutgoing = (name: string) =>
  enumOf(name, { Connect: layerConnect, Write: layerWrite, Close: layerClose, ConnectV2: layerConnectV2 });
export const layerTcpOutgoing = layerOutgoing('LayerTcpOutgoing');
export const layerUdpOutgoing = layerOutgoing('LayerUdpOutgoing');

const daemonOutgoing = (name: string) =>
  enumOf(name, {
    Connect: remoteResult(daemonConnect),
    Read: daemonRead,
    Close: u64,
    ConnectV2: daemonConnectV2,
  });
export const daemonTcpOutgoing = daemonOutgoing('DaemonTcpOutgoing');
export const daemonUdpOutgoing = daemonOutgoing('DaemonUdpOutgoing');

export const layerSeqpacket = enumOf('LayerSeqpacket', {
  Write: layerWrite,
  Close: layerClose,
  ConnectV2: layerConnectV2,
});
export const daemonSeqpacket = enumOf('DaemonSeqpacket', { Read: daemonRead, Close: u64, ConnectV2: daemonConnectV2 });

export const getAddrInfoRequest = struct('GetAddrInfoRequest', { node: str });
export const getAddrInfoRequestV2 = struct('GetAddrInfoRequestV2', {
  node: str,
  service_port: u16,
  family: enumOf('AddressFamily', {
    Ipv4Only: unit,
    Ipv6Only: unit,
    Both: unit,
    Any: unit,
    UnknownAddressFamilyFromNewerClient: unit,
  }),
  socktype: enumOf('SockType', { Stream: unit, Dgram: unit, Any: unit, UnknownSockTypeFromNewerClient: unit }),
  flags: i32,
  protocol: i32,
});
/** `GetAddrInfoResponse(RemoteResult<DnsLookup>)`: the names the agent resolved, with their addresses. */
export const getAddrInfoResponse = remoteResult(vec(struct('LookupRecord', { name: str, ip })));
export const reverseDnsLookupRequest = struct('ReverseDnsLookupRequest', { ip_address: ip });
export const reverseDnsLookupResponse = remoteResult(
  struct('ReverseDnsLookupResponse', { hostname: remoteResult(str) }),
);

export const clientVpn = enumOf('ClientVpn', { GetNetworkConfiguration: unit, OpenSocket: unit, Packet: bytes });
export const serverVpn = enumOf('ServerVpn', {
  NetworkConfiguration: struct('NetworkConfiguration', { ip, net_mask: ip, gateway: ip }),
  Packet: bytes,
});

export const daemonPauseTarget = enumOf('DaemonPauseTarget', {
  PauseResponse: struct('PauseResponse', { changed: bool, container_paused: bool }),
});
