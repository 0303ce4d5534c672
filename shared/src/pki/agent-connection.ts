import { connect, type TLSSocket } from 'node:tls';

export interface AgentEndpoint {
  /** `ip:port` as agent-manager reports it. */
  address: string;
  /** The name the agent's certificate carries (its Job or container name). */
  serverName: string;
}

export interface OperatorTls {
  /** The operator CA: the agent's certificate must chain to it. */
  caPem: string;
  /** The operator's client certificate (the agent checks it against the same CA). */
  certPem: string;
  keyPem: string;
}

/**
 * Opens the operator→agent TLS connection: the agent must present a certificate from the
 * operator CA issued for exactly this agent (an address alone proves nothing inside a
 * cluster), and the operator authenticates itself with its own certificate from that CA.
 */
export function connectAgent(ep: AgentEndpoint, tls: OperatorTls, timeoutMs = 10_000): Promise<TLSSocket> {
  const i = ep.address.lastIndexOf(':');
  const host = ep.address.slice(0, i);
  const port = Number(ep.address.slice(i + 1));
  return new Promise((resolve, reject) => {
    const sock = connect({
      host,
      port,
      ca: tls.caPem,
      cert: tls.certPem,
      key: tls.keyPem,
      servername: ep.serverName,
      checkServerIdentity: (_host, cert) => {
        const names = [cert.subject?.CN, ...(cert.subjectaltname ?? '').split(', ').map((s) => s.replace(/^DNS:/, ''))];
        return names.includes(ep.serverName)
          ? undefined
          : new Error(`agent certificate is for ${String(cert.subject?.CN)}, expected ${ep.serverName}`);
      },
    });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`TLS handshake with agent ${ep.serverName} at ${ep.address} timed out`));
    }, timeoutMs);
    sock.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(sock);
    });
    sock.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`TLS to agent ${ep.serverName} at ${ep.address}: ${e.message}`));
    });
  });
}
