import { connect, type Socket } from 'node:net';
import { TLSSocket, createSecureContext, type SecureContext } from 'node:tls';
import type { Duplex } from 'node:stream';
import { unavailable } from '#shared/errors/index.js';

/** Largest mirrord-protocol message relayed either way unless PROTOCOL_MAX_MESSAGE_BYTES says otherwise. */
export const DEFAULT_PROTOCOL_MAX_BYTES = 16 * 1024 * 1024;

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

  /**
   * Connects. Whether the connection is TLS is this gateway's own configuration
   * (OPERATOR_AGENT_CONNECTION_TLS), never the prepare reply's (security.md: a reply decides
   * nothing about security): `agentTls` — whether agent-manager says it started the agent with
   * the operator certificate — can only make a mismatch fail closed, never turn TLS off.
   */
  open(address: string, agentTls: boolean): Promise<Duplex> {
    if (agentTls && !this.#context)
      return Promise.reject(
        unavailable(
          `agent at ${address} expects TLS but this gateway has no agent-connection certificate; give it the same OPERATOR_CA_DIR and OPERATOR_AGENT_CONNECTION_TLS as agent-manager`,
        ),
      );
    const context = this.#context;
    const i = address.lastIndexOf(':');
    const host = address.slice(0, i).replace(/^\[|\]$/g, '');
    const port = Number(address.slice(i + 1));
    // An agent's container runs a moment before its listener does: a refused or cut
    // connection is tried again until the timeout.
    const deadline = Date.now() + this.timeoutMs;
    const attempt = async (): Promise<Duplex> => {
      for (;;) {
        const r = await this.#once(host, port, context, deadline);
        if ('sock' in r) return r.sock;
        if (!r.retry || Date.now() + 200 >= deadline) throw unavailable(`agent at ${address}: ${r.why}`);
        await new Promise((res) => setTimeout(res, 200));
      }
    };
    return attempt();
  }

  #once(
    host: string,
    port: number,
    context: SecureContext | undefined,
    deadline: number,
  ): Promise<{ sock: Duplex } | { why: string; retry: boolean }> {
    return new Promise((resolve) => {
      let settled = false;
      const fail = (why: string, retry: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sock.destroy();
        resolve({ why, retry });
      };
      const timer = setTimeout(
        () => fail(`no ${context ? 'TLS handshake' : 'connection'} within ${this.timeoutMs} ms`, false),
        Math.max(0, deadline - Date.now()),
      );
      const sock: Socket = connect({ host, port, noDelay: true });
      sock.once('error', (e: NodeJS.ErrnoException) =>
        fail(e.message, e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET'),
      );
      let secure: TLSSocket | undefined;
      // Closed before sending anything: not listening yet behind its pod address; closed after its
      // ClientHello: it refused our certificate.
      sock.once('close', () => {
        const heard = sock.bytesRead > 0 || (secure?.bytesRead ?? 0) > 0;
        if (heard)
          fail(
            "TLS handshake refused (does it trust this operator's agent-connection certificate? OPERATOR_CA_DIR must be agent-manager's)",
            false,
          );
        else fail(`closed the connection before ${context ? 'the TLS handshake' : 'use'}`, true);
      });
      sock.once('connect', () => {
        if (!context) {
          settled = true;
          clearTimeout(timer);
          sock.removeAllListeners('error');
          sock.removeAllListeners('close');
          return resolve({ sock });
        }
        const tls = new TLSSocket(sock, { isServer: true, secureContext: context });
        secure = tls;
        tls.once('error', (e) => fail(`TLS: ${e.message}`, false));
        tls.once('secure', () => {
          settled = true;
          clearTimeout(timer);
          sock.removeAllListeners('error');
          sock.removeAllListeners('close');
          tls.removeAllListeners('error');
          resolve({ sock: tls });
        });
      });
    });
  }
}
