import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Svcm } from '@nats-io/services';
import type { NatsConnection } from '@nats-io/transport-node';
import { isAppError } from '#shared/errors/index.js';
import { contract, parseRequest, policyContracts, request, serveContract } from '#shared/contracts/index.js';
import * as z from 'zod';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';

describe('contracts: one declaration, both ends validated', () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  before(async () => {
    nats = await startNatsServer();
    nc = await nats.connect();
  });
  after(async () => {
    await nc?.close();
    await nats?.[Symbol.asyncDispose]();
  });

  it('given a request missing a field, when the server parses it, then Invalid names the field', () => {
    assert.throws(
      () => parseRequest(policyContracts.decidePort, { namespace: 'default', target: 'deploy/x', mode: 'stael' }),
      (e: unknown) => isAppError(e, 'Invalid') && e.field === 'mode',
    );
    assert.throws(
      () => parseRequest(policyContracts.decideStart, { target: 'deploy/x' }),
      (e: unknown) => isAppError(e, 'Invalid') && e.field === 'namespace',
    );
  });

  it('given a server that answers the wrong shape, when a caller asks, then it gets Unavailable naming where', async () => {
    const echo = contract('test.contracts.echo', z.object({ n: z.number() }), z.object({ twice: z.number() }));
    const liar = contract('test.contracts.echo', z.object({ n: z.number() }), z.object({ twice: z.string() }));
    const svc = await new Svcm(nc).add({ name: 'contract-test', version: '0.0.1' });
    serveContract(svc, 'echo', liar, (req) => ({ twice: String(req.n * 2) }));
    await assert.rejects(request(nc, echo, { n: 2 }), (e: unknown) => {
      assert.ok(isAppError(e, 'Unavailable'));
      assert.match(e.message, /^test\.contracts\.echo answered an unexpected reply \(twice: /);
      return true;
    });
    await assert.rejects(
      request(nc, liar, { n: 'x' as unknown as number }),
      (e: unknown) => isAppError(e, 'Invalid') && e.field === 'n',
    );
    await svc.stop();
  });
});
