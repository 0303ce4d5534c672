import { agentManagerContracts } from '../contracts/agent-manager.js';
import type { Contract } from '../contracts/contract.js';
import { jiraContracts } from '../contracts/jira.js';
import { ledgerCommands } from '../contracts/ledger-commands.js';
import { ledgerQueries } from '../contracts/ledger-queries.js';
import { policyContracts } from '../contracts/policy.js';
import { queueSplitterContracts } from '../contracts/queue-splitter.js';
import { licenseContracts } from '../license/fleet.js';
import {
  AGENT_CLEANUP_CONSUMER,
  EVENTS_DEAD_STREAM,
  EVENTS_DEAD_WILDCARD,
  EVENTS_STREAM,
  EVENTS_WILDCARD,
  eventsOfType,
  FLEET_ADMISSIONS,
  FLEET_STREAM,
  inboxPrefix,
  JIRA_CONSUMER,
  JIRA_DEAD_PREFIX,
  JIRA_DEAD_STREAM,
  JIRA_DELIVERED_BUCKET,
  JIRA_OUTCOME_PREFIX,
  JIRA_OUTCOMES_STREAM,
  kvStream,
  kvSubjects,
  LEDGER_LEASE_BUCKET,
  ledgerLeaseAliveSubject,
  QUEUE_SPLITS_BUCKET,
  QUEUE_SPLITTER_CONSUMER,
  FLEET_WIRES,
  licenseFromSubject,
  licenseSubject,
  SUBSCRIBER_CONSUMER,
  USAGE_STREAM,
} from './subjects.js';
import { BUS_IDENTITIES, type BusIdentity } from './identities.js';

/**
 * Who may say what on the bus (security.md: "NATS permissions, derived from the contracts").
 * Each service is one NATS identity; its wires are named here by the contracts and stream
 * names declared once in shared/, and the server's permission list is computed from them —
 * never written beside them. A wire not listed for an identity is a permissions violation at
 * the server: only agent-manager may answer `prepare`, only the ledger may write the event
 * stream or its lease, only the gateway may send ledger commands.
 */
export { BUS_IDENTITIES, SERVICE_IDENTITIES, type BusIdentity } from './identities.js';

interface Wires {
  /** Request-reply wires it answers (subscribe the subject, reply to the caller's inbox). */
  serves?: Contract<never, never>[];
  /** Request-reply wires it calls. */
  calls?: Contract<never, never>[];
  /** Core subjects it publishes / subscribes without JetStream. */
  publishes?: string[];
  listens?: string[];
  /** Streams it creates and writes (name → its subjects). */
  writes?: Record<string, string[]>;
  /** Streams it reads through ephemeral (ordered) consumers or inspects. */
  reads?: string[];
  /** Durable consumers it owns: [stream, consumer]. */
  durables?: [string, string][];
  /** KV buckets it owns. */
  buckets?: string[];
  /** Extra JetStream API calls on a stream it neither writes nor reads (e.g. deleting a message). */
  streamOps?: [string, string][];
  /** `$SRV.PING.<name>` of other services it checks (health). */
  pings?: boolean;
  /** Its @nats-io/services name, when it serves (PING/INFO/STATS discovery). */
  service?: string;
}

const all = (o: Record<string, Contract<never, never>>): Contract<never, never>[] => Object.values(o);
const asContracts = (o: object): Record<string, Contract<never, never>> => o as Record<string, Contract<never, never>>;

/** The wires of every identity: the one table the server's permissions come from. */
export const WIRES: Readonly<Record<BusIdentity, Wires>> = Object.freeze({
  gateway: {
    calls: [
      ...all(asContracts(ledgerCommands)),
      ...all(asContracts(ledgerQueries)),
      ...all(asContracts(policyContracts)),
      ...all(asContracts(agentManagerContracts)),
      ...all(asContracts(jiraContracts)),
      ...all(asContracts(queueSplitterContracts)),
      licenseContracts.admit as never,
      licenseContracts.seats as never,
    ],
    // A session that ended elsewhere closes its socket; the seat set is re-published every minute.
    listens: [eventsOfType('SessionEnded'), licenseSubject('seats')],
    reads: [EVENTS_STREAM, JIRA_OUTCOMES_STREAM],
    pings: true,
  },
  ledger: {
    serves: [...all(asContracts(ledgerCommands)), ...all(asContracts(ledgerQueries))],
    // Its usage goes to the hub as requests (UsageRelay reads its own MIRRORD_USAGE back).
    calls: [licenseContracts.join as never, licenseContracts.usage as never],
    writes: {
      [EVENTS_STREAM]: [EVENTS_WILDCARD],
      [EVENTS_DEAD_STREAM]: [EVENTS_DEAD_WILDCARD],
      [USAGE_STREAM]: ['mirrord.usage.>'],
    },
    buckets: [LEDGER_LEASE_BUCKET],
    // A holder answers its liveness subject; a standby asks it (a takeover before the TTL).
    publishes: [ledgerLeaseAliveSubject('*')],
    listens: [ledgerLeaseAliveSubject('*')],
    service: 'ledger',
  },
  policy: { serves: all(asContracts(policyContracts)), service: 'policy' },
  'agent-manager': {
    serves: all(asContracts(agentManagerContracts)),
    // A copy's pod records itself on its creator session (the gateway never sees the pod).
    calls: [ledgerCommands['copy-target'] as never, ledgerQueries.session as never],
    durables: [[EVENTS_STREAM, AGENT_CLEANUP_CONSUMER]],
    service: 'agent-manager',
  },
  'jira-reporter': {
    serves: all(asContracts(jiraContracts)),
    calls: [ledgerQueries.session as never],
    durables: [[EVENTS_STREAM, JIRA_CONSUMER]],
    writes: { [JIRA_DEAD_STREAM]: [`${JIRA_DEAD_PREFIX}.>`], [JIRA_OUTCOMES_STREAM]: [`${JIRA_OUTCOME_PREFIX}*`] },
    streamOps: [[JIRA_DEAD_STREAM, 'MSG.DELETE']],
    buckets: [JIRA_DELIVERED_BUCKET],
    service: 'jira-reporter',
  },
  'license-server': {
    serves: all(asContracts(licenseContracts)),
    // The same wires from the hub's cluster accounts, the cluster a subject token (leafnode.ts).
    listens: FLEET_WIRES.map((w) => licenseFromSubject('*', w)),
    publishes: [licenseSubject('seats')],
    writes: { [FLEET_STREAM]: [FLEET_ADMISSIONS] },
    reads: [FLEET_STREAM],
    service: 'license-server',
  },
  // Records a split's end and a workload's restore only (the start is recorded by the gateway
  // with its session's); reads a session's status to release splits of sessions that never started.
  'queue-splitter': {
    serves: all(asContracts(queueSplitterContracts)),
    calls: [
      ledgerCommands['queue-split-end'] as never,
      ledgerCommands['workload-restore'] as never,
      ledgerQueries.session as never,
    ],
    durables: [[EVENTS_STREAM, QUEUE_SPLITTER_CONSUMER]],
    buckets: [QUEUE_SPLITS_BUCKET],
    // Every replica watches the records (and lists their keys): ordered consumers on the bucket's stream.
    reads: [kvStream(QUEUE_SPLITS_BUCKET)],
    service: 'queue-splitter',
  },
  // Live events, and replay through its own durable consumer only: an ephemeral reader could
  // also pull (and so delay) the services' durables, which ordered consumers' names cannot exclude.
  subscriber: { listens: [EVENTS_WILDCARD], durables: [[EVENTS_STREAM, SUBSCRIBER_CONSUMER]] },
});

export interface Permissions {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
  /** A responder may publish once to the reply subject of a request it received. */
  allow_responses: boolean;
}

/** The JetStream API calls (account-relative, `$JS.API.`) behind each way of using a stream. */
const api = (s: string) => `$JS.API.${s}`;
const writeStream = (name: string) => [
  api(`STREAM.INFO.${name}`),
  api(`STREAM.CREATE.${name}`),
  api(`STREAM.UPDATE.${name}`),
  api(`STREAM.MSG.GET.${name}`),
  api(`DIRECT.GET.${name}`),
  api(`DIRECT.GET.${name}.>`),
];
const readStream = (name: string) => [
  api(`STREAM.INFO.${name}`),
  api(`STREAM.MSG.GET.${name}`),
  api(`CONSUMER.CREATE.${name}`),
  api(`CONSUMER.CREATE.${name}.>`),
  api(`CONSUMER.INFO.${name}.*`),
  api(`CONSUMER.DELETE.${name}.*`),
  api(`CONSUMER.LIST.${name}`),
  api(`CONSUMER.MSG.NEXT.${name}.*`),
];
const durable = (stream: string, name: string) => [
  api(`STREAM.INFO.${stream}`),
  api(`CONSUMER.INFO.${stream}.${name}`),
  api(`CONSUMER.CREATE.${stream}.${name}`),
  api(`CONSUMER.CREATE.${stream}.${name}.>`),
  api(`CONSUMER.DURABLE.CREATE.${stream}.${name}`),
  api(`CONSUMER.MSG.NEXT.${stream}.${name}`),
  `$JS.ACK.${stream}.${name}.>`,
];

/** The server-side permissions of one identity, computed from its wires. */
export function permissionsFor(identity: BusIdentity): Permissions {
  const w = WIRES[identity];
  const pub = new Set<string>();
  const sub = new Set<string>([`${inboxPrefix(identity)}.>`]);
  const usesJs = !!(w.writes || w.reads || w.durables || w.buckets);
  if (usesJs) pub.add(api('INFO'));
  for (const c of w.serves ?? []) sub.add(c.subject);
  for (const c of w.calls ?? []) pub.add(c.subject);
  for (const s of w.publishes ?? []) pub.add(s);
  for (const s of w.listens ?? []) sub.add(s);
  for (const [name, subjects] of Object.entries(w.writes ?? {})) {
    writeStream(name).forEach((s) => pub.add(s));
    subjects.forEach((s) => pub.add(s));
  }
  for (const name of w.reads ?? []) readStream(name).forEach((s) => pub.add(s));
  for (const [stream, name] of w.durables ?? []) durable(stream, name).forEach((s) => pub.add(s));
  for (const [stream, op] of w.streamOps ?? []) pub.add(api(`STREAM.${op}.${stream}`));
  for (const b of w.buckets ?? []) {
    writeStream(kvStream(b)).forEach((s) => pub.add(s));
    pub.add(kvSubjects(b));
  }
  if (w.pings) pub.add('$SRV.PING.*');
  if (w.service)
    for (const verb of ['PING', 'INFO', 'STATS']) {
      sub.add(`$SRV.${verb}`);
      sub.add(`$SRV.${verb}.${w.service}`);
      sub.add(`$SRV.${verb}.${w.service}.*`);
    }
  return { publish: { allow: [...pub].sort() }, subscribe: { allow: [...sub].sort() }, allow_responses: true };
}

/** One user of the server's `authorization` block: an nkey and what it may do (undefined: everything). */
export interface BusUser {
  nkey: string;
  permissions?: Permissions;
}

/**
 * The nats.conf `authorization` block for these users (JSON is valid NATS configuration; it
 * also keeps `$` in subjects from being read as a variable). No user, no connection.
 */
export function authorizationConf(users: BusUser[]): string {
  return `authorization: ${JSON.stringify({ users }, null, 2)}\n`;
}

/** Every identity's user with its derived permissions, given each identity's public nkey. */
export function busUsers(keys: Partial<Record<BusIdentity, string>>): BusUser[] {
  return BUS_IDENTITIES.filter((id) => keys[id]).map((id) => ({ nkey: keys[id]!, permissions: permissionsFor(id) }));
}
