import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PermissionViolationError, type NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import {
  AGENT_CLEANUP_CONSUMER,
  EVENTS_STREAM,
  JIRA_CONSUMER,
  SUBSCRIBER_CONSUMER,
  kvSubjects,
  LEDGER_LEASE_BUCKET,
  LICENSE_PREFIX,
  inboxPrefix,
} from '#shared/nats/subjects.js';
import { BUS_IDENTITIES, type BusIdentity } from '#shared/nats/permissions.js';
import { agentManagerContracts, ledgerCommands, ledgerQueries, policyContracts } from '#shared/contracts/index.js';
import { eventually } from '../support/eventually.js';
import { connectAs, startNatsServer, type NatsServer } from '../support/nats-server.js';

/**
 * The bus as an attacker with stolen (or a compromised service's) credentials sees it: every
 * abuse of issue 25 is refused by the server itself, for every identity that is not the one
 * the wire belongs to. The rightful identity is checked to succeed on the same wire, so a
 * refusal is the permission and not a typo.
 */
type Op = { kind: 'pub' | 'sub'; subject: string };
interface Abuse {
  what: string;
  op: Op;
  /** The identities the wire belongs to (everyone else is refused). */
  owners: BusIdentity[];
}

const pub = (subject: string): Op => ({ kind: 'pub', subject });
const sub = (subject: string): Op => ({ kind: 'sub', subject });
const api = (s: string) => `$JS.API.${s}`;

const ABUSES: Abuse[] = [
  {
    what: 'answer prepare (session hijack)',
    op: sub(agentManagerContracts.prepare.subject),
    owners: ['agent-manager'],
  },
  { what: 'write the writer-lease key (outage)', op: pub(`$KV.${LEDGER_LEASE_BUCKET}.writer`), owners: ['ledger'] },
  { what: 'watch the writer-lease bucket', op: sub(kvSubjects(LEDGER_LEASE_BUCKET)), owners: [] },
  { what: 'publish a forged event', op: pub('mirrord.events.SessionStarted.0000000000000001'), owners: ['ledger'] },
  { what: 'kill a session by ledger command', op: pub(ledgerCommands.kill.subject), owners: ['gateway'] },
  { what: 'start a session by ledger command', op: pub(ledgerCommands.start.subject), owners: ['gateway'] },
  { what: 'hold a port lock', op: pub(ledgerCommands['port-subscribe'].subject), owners: ['gateway'] },
  { what: 'answer ledger commands', op: sub(ledgerCommands.start.subject), owners: ['ledger'] },
  { what: 'answer ledger queries', op: sub(ledgerQueries.sessions.subject), owners: ['ledger'] },
  { what: 'answer policy decisions', op: sub(policyContracts.decideStart.subject), owners: ['policy'] },
  { what: 'read every event as it is published', op: sub('mirrord.events.>'), owners: ['subscriber'] },
  { what: "read the gateway's replies", op: sub(`${inboxPrefix('gateway')}.>`), owners: ['gateway'] },
  // Only a request's receiver may answer into the caller's inbox (allow_responses): so the
  // prepare reply the gateway dials comes from agent-manager, the only identity that receives it.
  { what: "forge a reply into the gateway's inbox", op: pub(`${inboxPrefix('gateway')}.forged.1`), owners: [] },
  { what: 'delete the event stream', op: pub(api(`STREAM.DELETE.${EVENTS_STREAM}`)), owners: [] },
  { what: 'purge the event stream', op: pub(api(`STREAM.PURGE.${EVENTS_STREAM}`)), owners: [] },
  {
    what: "pull agent-manager's cleanup events",
    op: pub(api(`CONSUMER.MSG.NEXT.${EVENTS_STREAM}.${AGENT_CLEANUP_CONSUMER}`)),
    // The gateway's ordered consumers have generated names: it may pull from any consumer.
    owners: ['agent-manager', 'gateway'],
  },
  {
    what: "delete jira-reporter's consumer",
    op: pub(api(`CONSUMER.DELETE.${EVENTS_STREAM}.${JIRA_CONSUMER}`)),
    owners: ['gateway'],
  },
  {
    what: 'replay events through its own durable consumer',
    op: pub(api(`CONSUMER.MSG.NEXT.${EVENTS_STREAM}.${SUBSCRIBER_CONSUMER}`)),
    owners: ['gateway', 'subscriber'],
  },
  { what: 'admit a seat at the license server', op: pub(`${LICENSE_PREFIX}.admit`), owners: ['gateway'] },
  { what: 'answer seat admissions', op: sub(`${LICENSE_PREFIX}.admit`), owners: ['license-server'] },
];

/** Resolves with the server's permission violation for `op` on `nc`, or undefined when none came. */
async function attempt(nc: NatsConnection, op: Op): Promise<PermissionViolationError | undefined> {
  let seen: PermissionViolationError | undefined;
  const watch = (async () => {
    for await (const s of nc.status())
      if (s.type === 'error' && s.error instanceof PermissionViolationError && s.error.subject === op.subject)
        seen = s.error;
  })();
  if (op.kind === 'pub') nc.publish(op.subject, new Uint8Array([1]));
  else
    nc.subscribe(op.subject, {
      callback: (e) => {
        if (e instanceof PermissionViolationError) seen = e;
      },
    });
  // A round trip after the operation: the server has judged it when the PONG comes back.
  await nc.flush();
  await nc.flush();
  void watch;
  return seen;
}

describe('the bus: authentication and least privilege (nats-server with the generated permissions)', () => {
  let nats: NatsServer;
  before(async () => {
    nats = await startNatsServer();
  });
  after(async () => {
    await nats?.[Symbol.asyncDispose]();
  });

  it('a client with no credentials, or a key the server does not know, cannot connect', async () => {
    await assert.rejects(connect({ servers: nats.url, reconnect: false }), /Authorization Violation/i);
    const stranger = await startNatsServer();
    try {
      // The stranger's seed for "ledger" is a valid nkey the first server has never seen.
      await assert.rejects(
        connectAs(nats.url, stranger.credsDir, 'ledger', { reconnect: false }),
        /Authorization Violation/i,
      );
    } finally {
      await stranger[Symbol.asyncDispose]();
    }
  });

  for (const abuse of ABUSES)
    it(`only ${abuse.owners.join(', ') || 'no service'} may ${abuse.what}`, async () => {
      for (const id of BUS_IDENTITIES) {
        const nc = await nats.connect(id);
        try {
          const violation = await eventually(`${id}: ${abuse.what} judged`, async () => ({
            v: await attempt(nc, abuse.op),
          }));
          if (abuse.owners.includes(id))
            assert.equal(violation.v, undefined, `${id} is refused its own wire ${abuse.op.subject}`);
          else {
            assert.ok(violation.v, `${id} could ${abuse.what} (${abuse.op.kind} ${abuse.op.subject})`);
            assert.equal(violation.v.operation, abuse.op.kind === 'pub' ? 'publish' : 'subscription');
          }
        } finally {
          await nc.close();
        }
      }
    });

  it('a forged event from any identity but the ledger never reaches a subscriber', async () => {
    const watcher = await nats.connect('subscriber');
    const got: string[] = [];
    watcher.subscribe('mirrord.events.>', { callback: (_e, m) => void got.push(m.string()) });
    await watcher.flush();
    for (const id of BUS_IDENTITIES.filter((i) => i !== 'ledger')) {
      const nc = await nats.connect(id);
      nc.publish('mirrord.events.SessionEnded.0000000000000001', `forged by ${id}`);
      await nc.flush();
      await nc.close();
    }
    const ledger = await nats.connect('ledger');
    ledger.publish('mirrord.events.SessionEnded.0000000000000001', 'from the ledger');
    await ledger.flush();
    await eventually('the ledger’s message arrives', () => got.includes('from the ledger'));
    assert.deepEqual(got, ['from the ledger']);
    await ledger.close();
    await watcher.close();
  });
});
