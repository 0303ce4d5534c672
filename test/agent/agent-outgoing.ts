import { connect as tcpConnect, type Socket } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import type { ClientMessage, DaemonMessage, SocketAddressValue } from '#shared/protocol/index.js';

/**
 * The test agent's outgoing traffic and DNS, as the real agent serves them from the target's
 * network namespace (`agent/src/outgoing.rs`, `dns.rs`): a connect opens a real socket to the
 * address, its bytes go both ways as `Read` / `Write`, and names resolve through the cluster's
 * DNS — here the `hosts` table (what the cluster's Services would answer), then the machine's.
 */
type Send = (m: DaemonMessage) => void;
type Outgoing = Extract<ClientMessage, { $: 'TcpOutgoing' }>['v'];
type RemoteError = Extract<Extract<DaemonMessage, { $: 'TcpOutgoing' }>['v'], { $: 'Connect' }>['v'];

const ERRNO: Record<string, [number, string]> = {
  ECONNREFUSED: [111, 'ConnectionRefused'],
  EHOSTUNREACH: [113, 'HostUnreachable'],
  ENETUNREACH: [101, 'NetworkUnreachable'],
  ETIMEDOUT: [110, 'TimedOut'],
};

const ioError = (e: NodeJS.ErrnoException): RemoteError => {
  const [raw, kind] = ERRNO[e.code ?? ''] ?? [5, 'Other'];
  return { $: 'Err', v: { $: 'RemoteIO', v: { raw_os_error: raw, kind: { $: kind, v: null } as never } } };
};

let nextId = 1n;

export class AgentOutgoing {
  readonly #tcp = new Map<bigint, Socket>();
  readonly #udp = new Map<bigint, UdpSocket>();

  constructor(
    private readonly send: Send,
    private readonly hosts: ReadonlyMap<string, string[]>,
    private readonly clusterDns?: (name: string) => { fqdn: string; ips: string[] } | undefined,
  ) {}

  /** Answers go out in request order (the client matches them so), however long each lookup takes. */
  #dns: Promise<void> = Promise.resolve();

  /** `GetAddrInfoRequest(V2)`: the records as the agent's resolver returns them (fully qualified names). */
  resolve(node: string): void {
    this.#dns = this.#dns.then(() => this.#resolve(node));
  }

  async #resolve(node: string): Promise<void> {
    const known = this.hosts.get(node);
    const service = known ? undefined : this.clusterDns?.(node);
    try {
      if (!node || service?.ips.length === 0) throw new Error('no records');
      const ips = known ?? service?.ips ?? (await lookup(node, { all: true })).map((a) => a.address);
      const fqdn = service?.fqdn ?? node;
      const name = fqdn.endsWith('.') ? fqdn : `${fqdn}.`;
      this.send({ $: 'GetAddrInfoResponse', v: { $: 'Ok', v: ips.map((ip) => ({ name, ip })) } });
    } catch {
      this.send({
        $: 'GetAddrInfoResponse',
        v: { $: 'Err', v: { $: 'DnsLookup', v: { kind: { $: 'NoRecordsFound', v: 3 } } } },
      });
    }
  }

  handle(protocol: 'TCP' | 'UDP', m: Outgoing): void {
    switch (m.$) {
      case 'Connect':
        return this.#connect(protocol, m.v.remote_address, undefined);
      case 'ConnectV2':
        return this.#connect(protocol, m.v.remote_address, m.v.uid);
      case 'Write': {
        const { connection_id: id, bytes } = m.v;
        if (protocol === 'TCP') this.#tcp.get(id)?.write(bytes);
        else this.#udp.get(id)?.send(bytes);
        return;
      }
      case 'Close':
        this.#tcp.get(m.v.connection_id)?.end();
        this.#udp.get(m.v.connection_id)?.close();
        return;
    }
  }

  #reply(protocol: 'TCP' | 'UDP', uid: bigint | undefined, connect: RemoteError): void {
    const $ = protocol === 'TCP' ? 'TcpOutgoing' : 'UdpOutgoing';
    this.send({ $, v: uid === undefined ? { $: 'Connect', v: connect } : { $: 'ConnectV2', v: { uid, connect } } });
  }

  #connect(protocol: 'TCP' | 'UDP', address: SocketAddressValue, uid: bigint | undefined): void {
    if (address.$ !== 'Ip') return this.#reply(protocol, uid, { $: 'Err', v: { $: 'NotImplemented', v: null } });
    const { ip, port } = address.v;
    const id = nextId++;
    const $ = protocol === 'TCP' ? 'TcpOutgoing' : 'UdpOutgoing';
    const read = (bytes: Buffer) => this.send({ $, v: { $: 'Read', v: { $: 'Ok', v: { connection_id: id, bytes } } } });
    const connected = (local: { address: string; port: number }) =>
      this.#reply(protocol, uid, {
        $: 'Ok',
        v: {
          connection_id: id,
          remote_address: address,
          local_address: { $: 'Ip', v: { ip: local.address, port: local.port } },
        },
      });
    if (protocol === 'UDP' && port !== 0) {
      const s = createSocket(ip.includes(':') ? 'udp6' : 'udp4');
      s.on('message', read);
      s.on('error', (e) => {
        if (!this.#udp.has(id)) this.#reply(protocol, uid, ioError(e));
        s.close();
      });
      s.connect(port, ip, () => {
        this.#udp.set(id, s);
        connected(s.address());
      });
      s.once('close', () => this.#udp.delete(id));
      return;
    }
    if (port === 0)
      return this.#reply(protocol, uid, { $: 'Err', v: { $: 'Remote', v: { $: 'InvalidAddress', v: address } } });
    const s = tcpConnect({ host: ip, port });
    s.once('connect', () => {
      this.#tcp.set(id, s);
      connected({ address: s.localAddress!, port: s.localPort! });
    });
    s.once('error', (e) => {
      if (!this.#tcp.has(id)) this.#reply(protocol, uid, ioError(e));
    });
    s.on('data', read);
    s.once('close', () => {
      if (this.#tcp.delete(id)) this.send({ $, v: { $: 'Close', v: id } });
    });
  }

  close(): void {
    for (const s of this.#tcp.values()) s.destroy();
    for (const s of this.#udp.values()) s.close();
  }
}
