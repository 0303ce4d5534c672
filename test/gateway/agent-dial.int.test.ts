import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { createAgentConnectionCert } from '#shared/pki/index.js';
import { AgentConnector } from '../../services/gateway/src/adapters/agent-connection/agent-connector.js';
import { freePort } from '../support/postgres.js';

/**
 * The gateway's dial to an agent (issue 25, "the agent dial cannot be redirected"): whether it
 * speaks TLS is the gateway's configuration, never the prepare reply's. A listener that is not
 * an agent trusting the operator certificate gets no session byte, and an agent that cannot be
 * reached fails the session closed.
 */
describe('agent dial: TLS from configuration, failing closed', () => {
  /** A "fake agent": accepts, records every byte it receives, and writes plaintext mirrord bytes. */
  async function fakeAgent(): Promise<{ server: Server; address: string; received: () => number }> {
    let bytes = 0;
    const server = createServer((s: Socket) => {
      s.on('data', (d) => (bytes += d.length));
      s.on('error', () => undefined);
      s.write(Uint8Array.of(7, 0, 0, 0));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    return { server, address: `127.0.0.1:${port}`, received: () => bytes };
  }

  it('a reply saying "no TLS" does not turn TLS off: the plaintext listener gets no relayed byte', async () => {
    const tls = await createAgentConnectionCert('operator.mirrord-teams');
    const fake = await fakeAgent();
    try {
      // agentTls=false is what a forged prepare reply would claim; the gateway has TLS configured.
      await assert.rejects(new AgentConnector(tls, 3000).open(fake.address, false), (e: Error) => {
        assert.match(e.message, /agent at 127\.0\.0\.1:\d+: (TLS|closed|no TLS)/);
        return true;
      });
      // The gateway is the TLS server of mirrord's inverted handshake: it waits for a ClientHello
      // and writes nothing before it, so nothing of any session reached the listener.
      assert.equal(fake.received(), 0);
    } finally {
      fake.server.close();
    }
  });

  it('a reply saying "TLS" to a gateway without the agent-connection certificate fails closed, not in clear text', async () => {
    const fake = await fakeAgent();
    try {
      await assert.rejects(new AgentConnector(undefined, 3000).open(fake.address, true), /expects TLS/);
      assert.equal(fake.received(), 0);
    } finally {
      fake.server.close();
    }
  });

  it('an agent that does not answer fails the session with Unavailable naming the address', async () => {
    const port = await freePort();
    const tls = await createAgentConnectionCert('operator.mirrord-teams');
    await assert.rejects(
      new AgentConnector(tls, 1500).open(`127.0.0.1:${port}`, true),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'Unavailable');
        assert.match(e.message, new RegExp(`agent at 127\\.0\\.0\\.1:${port}`));
        return true;
      },
    );
  });
});
