import { compileOutgoing, outgoingVerdict, type Enforcement, type OutgoingRules } from '#shared/policy/index.js';
import type { CommandBody } from '#shared/contracts/index.js';
import { connectRefused, daemonMessage, decodeExact, type ClientIntent } from '#shared/protocol/index.js';
import { OrderedAnswers } from '../domain/ordered-answers.js';
import type { TokenBucket } from '../domain/token-bucket.js';
import type { PortDeps } from './port-subscriptions.js';
import type { RefusalLogger } from './refusal-log.js';
import type { StartedSession } from './start-session.js';

type Connect = Extract<ClientIntent, { kind: 'connect' }>;

/** A connect the policies refuse: what the relay answers and the ledger records. */
export type BlockedConnect = Pick<CommandBody<'outgoing-blocked'>, 'protocol' | 'address' | 'port' | 'policy'> & {
  /** The names this session resolved to the address (what hostname rules matched against). */
  hostnames: string[];
  reason: string;
};

/** Names remembered per session: enough for any app, bounded against one that resolves without end. */
const MAX_ADDRESSES = 4096;
const MAX_PENDING_LOOKUPS = 1024;

/**
 * The policies' `network.outgoing` rules on the wire, for one client connection: each TCP / UDP
 * connect is checked (block rules first, then a non-empty allow list) and a refused one is
 * answered here and never reaches the agent. Hostname rules match the names this session
 * resolved through the agent (`GetAddrInfoRequest` and its answer, matched in order), as the
 * application itself asked for them.
 *
 * `ConnectV2` answers carry the request's uid; legacy `Connect` answers are matched in order,
 * so a refusal made here waits behind the connects the agent still owes (OrderedAnswers).
 */
export class OutgoingGate {
  readonly #rules: OutgoingRules;
  readonly #lookups: string[] = [];
  /** IP → the names it was resolved from (insertion order: the oldest go first past the bound). */
  readonly #names = new Map<string, Set<string>>();
  readonly #legacy = { TCP: new OrderedAnswers(), UDP: new OrderedAnswers() };

  constructor(o: Enforcement['outgoing']) {
    this.#rules = compileOutgoing(o);
  }

  get active(): boolean {
    return this.#rules.allow.length + this.#rules.block.length > 0;
  }

  /** The client asked the agent to resolve `node`. */
  lookup(node: string): void {
    if (this.#lookups.push(node) > MAX_PENDING_LOOKUPS) this.#lookups.shift();
  }

  /** The agent's `GetAddrInfoResponse`: the addresses the oldest lookup resolved to. */
  resolved(frame: Uint8Array): void {
    const node = this.#lookups.shift();
    const m = decodeExact(daemonMessage, frame);
    if (m.$ !== 'GetAddrInfoResponse' || m.v.$ !== 'Ok') return;
    for (const { name, ip } of m.v.v) {
      let names = this.#names.get(ip);
      if (!names) {
        this.#names.set(ip, (names = new Set()));
        if (this.#names.size > MAX_ADDRESSES) this.#names.delete(this.#names.keys().next().value!);
      }
      if (node !== undefined) names.add(node);
      // The record's name is the fully qualified one (`db.ns.svc.cluster.local.`).
      names.add(name.endsWith('.') ? name.slice(0, -1) : name);
    }
  }

  /** The refusal for this connect, or undefined when the policies let it through. */
  check(c: Connect): BlockedConnect | undefined {
    // Unix sockets are not network traffic: the rules speak of addresses and ports.
    if (c.address.$ !== 'Ip') return undefined;
    const { ip, port } = c.address.v;
    const hostnames = [...(this.#names.get(ip) ?? [])];
    const v = outgoingVerdict(this.#rules, { ip, hostname: hostnames, port, protocol: c.protocol });
    if (v.allowed) return undefined;
    return { protocol: c.protocol, address: ip, port, hostnames, policy: v.policy, reason: v.reason };
  }

  /** A connect that goes to the agent. */
  forwarded(c: Connect): void {
    if (c.uid === undefined) this.#legacy[c.protocol].forwarded();
  }

  /** The frames that answer a refused connect, now or (legacy Connect) behind the agent's pending answers. */
  refuse(version: string, c: Connect, b: BlockedConnect): Uint8Array[] {
    const frames = connectRefused(version, c, { policy: b.policy, reason: b.reason });
    return c.uid === undefined ? this.#legacy[c.protocol].answer(frames) : frames;
  }

  /** The agent answered a legacy `Connect`: that answer, then refusals queued behind it. */
  agentConnected(protocol: 'TCP' | 'UDP', frame: Uint8Array): Uint8Array[] {
    return this.#legacy[protocol].agentAnswered(frame);
  }
}

/**
 * Outgoing Blocked in the audit trail before the client hears of it; an app retrying without
 * end is still refused, but recorded only within SESSION_MESSAGES_PER_SECOND.
 */
export async function recordBlocked(
  deps: Pick<PortDeps, 'ledger'> & { bucket: TokenBucket; now(): number },
  session: StartedSession,
  /** The relay's refusal log (rate-limited: an app can retry a refused connect without end). */
  log: RefusalLogger,
  b: BlockedConnect,
): Promise<void> {
  const where = { protocol: b.protocol, address: b.address, port: b.port, hostnames: b.hostnames, policy: b.policy };
  if (!deps.bucket.take(deps.now())) {
    log.warn(where, 'outgoing connects refused faster than SESSION_MESSAGES_PER_SECOND; this one is not recorded');
    return;
  }
  log.info({ ...where, reason: b.reason }, 'outgoing connect refused by policy');
  const body = {
    session_id: session.req.session_id,
    client_user: session.who.user,
    ...where,
    hostnames: b.hostnames.slice(0, 64),
    message: b.reason,
  };
  await deps.ledger
    .command('outgoing-blocked', body)
    .catch((err: unknown) => log.warn({ err, ...where }, 'could not record the refused connect'));
}
