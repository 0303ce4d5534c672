import { connect, type Socket } from 'node:net';
import { TLSSocket, createSecureContext, type SecureContext } from 'node:tls';
import type { Duplex } from 'node:stream';
import { unavailable } from '#shared/errors/index.js';

/** The operator side of the agent connection's TLS (certificate and key of `agent-connection.crt`). */
export interface AgentTls {
  certPem: string;
  keyPem: string;
}

/**
 * Opens one connection to an agent. With TLS it is mirrord's inverted handshake: we open the
 * TCP connection, then act as the TLS *server* with the agent-connection certificate — the
 * agent is the TLS client and trusts exactly that certificate. Without TLS
 * (`OPERATOR_AGENT_CONNECTION_TLS=false`) the socket is plain TCP.
 */
export class AgentConnector {
  readonly #context: SecureContext | undefined;

  constructor(
    tls: AgentTls | undefined,
    private readonly timeoutMs = 10_000,
  ) {
    this.#context = tls ? createSecureContext({ cert: tls.certPem, key: tls.keyPem }) : undefined;
  }

  get tls(): boolean {
    return this.#context !== undefined;
  }

  open(address: string): Promise<Duplex> {
    const i = address.lastIndexOf(':');
    const host = address.slice(0, i).replace(/^\[|\]$/g, '');
    const port = Number(address.slice(i + 1));
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        sock.destroy();
        reject(unavailable(`agent at ${address}: ${why}`));
      };
      const timer = setTimeout(
        () => fail(`no ${this.#context ? 'TLS handshake' : 'connection'} within ${this.timeoutMs} ms`),
        this.timeoutMs,
      );
      const sock: Socket = connect({ host, port, noDelay: true });
      sock.once('error', (e) => fail(e.message));
      sock.once('connect', () => {
        if (!this.#context) {
          clearTimeout(timer);
          sock.removeAllListeners('error');
          return resolve(sock);
        }
        const tls = new TLSSocket(sock, { isServer: true, secureContext: this.#context });
        tls.once('error', (e) => fail(`TLS: ${e.message}`));
        tls.once('secure', () => {
          clearTimeout(timer);
          sock.removeAllListeners('error');
          tls.removeAllListeners('error');
          resolve(tls);
        });
      });
    });
  }
}
