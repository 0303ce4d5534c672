import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { NatsConnection } from '@nats-io/transport-node';
import { decode, encode } from '#shared/nats/codec.js';
import { LedgerCommand, LedgerQuery, commandSubject, querySubject } from '#shared/nats/index.js';
import { API, startSystem, type System } from '../support/system.js';
import { startClusterSystem, type ClusterSystem } from '../support/cluster.js';
import { agentManagerContracts, policyContracts } from '#shared/contracts/index.js';

const RUNS = 10_000;

/** Arbitrary JSON, huge strings and wrong types included. */
const json = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.string({ maxLength: 30 }),
    fc.constantFrom('x'.repeat(100_000), '00000000000000AA', 'deployment/x', '-1', '1e309', '__proto__'),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(
      fc.oneof(
        fc.constantFrom('spec', 'target', 'config', 'profile', 'session_id', 'port', 'client', 'client_user', 'mode'),
        fc.string({ maxLength: 8 }),
      ),
      tie('v'),
      { maxKeys: 4 },
    ),
  ),
})).v;

const routes: Array<{ method: string; path: string }> = [
  { method: 'POST', path: `${API}/namespaces/default/targets/deployment.x/explain` },
  { method: 'POST', path: `${API}/namespaces/default/copytargets` },
  { method: 'POST', path: `${API}/mirrordoperators/operator/certificate` },
  { method: 'GET', path: `${API}/events` },
  { method: 'GET', path: `${API}/sessions` },
  { method: 'GET', path: `${API}/namespaces/default/sessions/00000000000000AA/events` },
  { method: 'DELETE', path: `${API}/namespaces/default/sessions/abc` },
  { method: 'DELETE', path: `${API}/sessions/inactive` },
  { method: 'GET', path: `${API}/namespaces/default/targets/deployment.x/port-locks` },
  { method: 'GET', path: `${API}/mirrordoperators/operator` },
];
const queryString = fc
  .array(
    fc.tuple(
      fc.constantFrom('limit', 'continue', 'since', 'until', 'at', 'user', 'target', 'namespace', 'connect', 'x'),
      fc.string({ maxLength: 20 }),
    ),
    { maxLength: 4 },
  )
  .map((kv) => new URLSearchParams(kv).toString());

/**
 * Every door with generated input: the HTTP API's bodies and query strings, and the ledger's
 * NATS commands and queries (garbage bytes, wrong types, huge fields). Nothing crashes, every
 * refusal is a 4xx / an error reply with words, and the services still answer afterwards.
 */
describe('fuzz: the HTTP API and the NATS commands', () => {
  let sys: System;
  let nc: NatsConnection;
  before(async () => {
    sys = await startSystem();
    nc = await sys.nats.connect();
  });
  after(async () => {
    await nc?.close();
    await sys?.stop();
  });

  it(`${RUNS} HTTP requests: no 5xx, every refusal a Status naming what was wrong`, async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        queryString,
        fc.oneof(
          json.map((v) => JSON.stringify(v) ?? 'null'),
          fc.string({ maxLength: 200 }),
          fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
        ),
        fc.constantFrom('alice-token', 'admin-token', 'nobody'),
        async (route, q, body, token) => {
          const res = await fetch(`${sys.url}${route.path}${q ? `?${q}` : ''}`, {
            method: route.method,
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            ...(route.method === 'GET' ? {} : { body }),
          });
          const text = await res.text();
          seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
          assert.ok(res.status < 500, `${route.method} ${route.path}?${q} → ${res.status}: ${text.slice(0, 300)}`);
          if (res.status >= 400) {
            const s = JSON.parse(text) as { kind: string; message: string };
            assert.equal(s.kind, 'Status');
            assert.ok(s.message.length > 0);
          }
        },
      ),
      { numRuns: RUNS },
    );
    // 400 for a body that is not JSON, 422 for a field's value (Kubernetes' BadRequest / Invalid)
    assert.ok((seen.get(400) ?? 0) + (seen.get(422) ?? 0) > 0 && (seen.get(401) ?? 0) > 0, JSON.stringify([...seen]));
    assert.equal((await fetch(`${sys.url}/readyz`)).status, 200);
  });

  it(`${RUNS} NATS commands and queries to the ledger: an error reply for each bad one, none unanswered`, async () => {
    await fuzzSubjects(nc, [
      ...Object.values(LedgerCommand).map((v) => commandSubject('ledger', v)),
      ...Object.values(LedgerQuery).map((v) => querySubject('ledger', v)),
    ]);
    // Still serving.
    const r = decode((await nc.request(querySubject('ledger', 'sessions'), encode({}))).data, 'reply');
    assert.ok(r.ok);
  });
});

describe('fuzz: the policy and agent-manager NATS commands', () => {
  let cs: ClusterSystem;
  let nc: NatsConnection;
  before(async () => {
    cs = await startClusterSystem();
    nc = await cs.sys.nats.connect();
  });
  after(async () => {
    await nc?.close();
    await cs?.stop();
  });

  it(`${RUNS} payloads to every policy and agent-manager command: an error reply for each bad one`, async () => {
    await fuzzSubjects(nc, [
      ...Object.values(policyContracts).map((c) => c.subject),
      ...Object.values(agentManagerContracts).map((c) => c.subject),
    ]);
    // Both still answer a well-formed question.
    const summary = decode((await nc.request(policyContracts.summary.subject, encode({}))).data, 'reply');
    assert.ok(summary.ok, JSON.stringify(summary));
    const copies = decode((await nc.request(agentManagerContracts.copyTargets.subject, encode({}))).data, 'reply');
    assert.ok(copies.ok, JSON.stringify(copies));
  });
});

/** RUNS generated payloads (garbage bytes, wrong types, huge fields) to `subjects`: each answered, refusals only of the input. */
async function fuzzSubjects(nc: NatsConnection, subjects: string[]): Promise<void> {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...subjects),
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        json.map((v) => encode({ v: 1, ...(typeof v === 'object' && v && !Array.isArray(v) ? v : { body: v }) })),
      ),
      async (subject, payload) => {
        const reply = decode((await nc.request(subject, payload, { timeout: 10_000 })).data, 'reply') as {
          ok?: unknown;
          error?: { code: string; message: string };
        };
        if (reply.error) {
          assert.ok(reply.error.message.length > 0, JSON.stringify(reply.error));
          // A refusal of the input, never a failure of the service (which would be Unavailable).
          assert.ok(
            ['Invalid', 'NotFound', 'Conflict', 'Forbidden', 'PortAlreadyStolen', 'RequestEntityTooLarge'].includes(
              reply.error.code,
            ),
            `${subject}: ${reply.error.code} ${reply.error.message}`,
          );
        }
      },
    ),
    { numRuns: RUNS },
  );
}
