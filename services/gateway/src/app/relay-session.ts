import type { Logger } from 'pino';
import { globMatcher } from '#shared/policy/index.js';
import { FileGate } from './file-gate.js';
import { OutgoingGate, recordBlocked } from './outgoing-gate.js';
import { toAppError } from '#shared/errors/index.js';
import type { FilterLimits } from '#shared/filters/index.js';
import {
  AGENT_LOST,
  BASELINE_VERSION,
  Malformed,
  NeedMore,
  UnknownTag,
  clientMessage,
  closeMessage,
  daemonMessage,
  decodeExact,
  encode,
  intentOf,
  negotiated,
  pongMessage,
  Reader,
  refused,
  subscribed,
  tagOf,
  type ClientIntent,
  type DaemonMessage,
} from '#shared/protocol/index.js';
import type { TokenBucket } from '../domain/token-bucket.js';
import { RefusalLog } from './refusal-log.js';
import { subscribePort, unsubscribePort, type PortDeps } from './port-subscriptions.js';
import type { StartedSession } from './start-session.js';
import { closeReason } from './close-reason.js';
import { countAgentMessage, type TrafficMeter } from './count-agent-message.js';

/** Where a relay's bytes go: the client's WebSocket and (when the session has one) its agent connection. */
export interface RelayPorts {
  /** One whole `DaemonMessage` to the client (one binary frame). */
  toClient(frame: Uint8Array): void;
  /** One whole `ClientMessage` to the agent. */
  toAgent(frame: Uint8Array): void;
  /** Ends the client's socket (after any Close message) and the agent connection. */
  closeClient(code: number, reason: string): void;
  hasAgent: boolean;
}

export interface RelayDeps extends PortDeps {
  traffic?: TrafficMeter;
  limits: FilterLimits;
  /**
   * Subscriptions a second (SESSION_MESSAGES_PER_SECOND): each costs a policy and a ledger call.
   * One bucket for all of a session's sockets on this gateway, so more sockets are not more calls.
   */
  bucket: TokenBucket;
  now(): number;
  /** Runs a decision in the connection's trace (the client's traceparent), so its NATS calls join it. */
  inTrace?<T>(fn: () => T): T;
}

/** `SystemFailure` code for "the operator could not decide now" (mirrord defines 1 = agent lost). */
const OPERATOR_UNAVAILABLE = 2;
/** `SystemFailure` code for "the operator will not decide this" (an error retrying cannot cure). */
const OPERATOR_REFUSED = 3;
/** `DaemonMessage` tags the relay reads, from the grammar's variant order. */
const FILE_RESPONSE_TAG = tagOf(daemonMessage, 'File');
const ENV_RESPONSE_TAG = tagOf(daemonMessage, 'GetEnvVarsResponse');
const TCP_OUTGOING_TAG = tagOf(daemonMessage, 'TcpOutgoing');
const UDP_OUTGOING_TAG = tagOf(daemonMessage, 'UdpOutgoing');
const DNS_RESPONSE_TAG = tagOf(daemonMessage, 'GetAddrInfoResponse');
/** A legacy `Connect`'s answer (DaemonTcpOutgoing and DaemonUdpOutgoing alike), matched in order. */
const LEGACY_CONNECTED = tagOf(daemonMessage, 'TcpOutgoing', 'Connect');
if (tagOf(daemonMessage, 'UdpOutgoing', 'Connect') !== LEGACY_CONNECTED)
  throw new Error('grammar: Connect tags differ');

/**
 * Client messages the relay forwards whatever they hold (stolen traffic's answers, a connection's
 * bytes): checked whole by skipping, never decoded, as `tag << 8 | variant`. Everything else is
 * decoded and classified (intentOf).
 */
const PASS_THROUGH = new Set(
  (
    [
      ['Tcp', 'ConnectionUnsubscribe'],
      ['TcpSteal', 'ConnectionUnsubscribe'],
      ['TcpSteal', 'Data'],
      ['TcpSteal', 'HttpResponse'],
      ['TcpSteal', 'HttpResponseFramed'],
      ['TcpSteal', 'HttpResponseChunked'],
      ['TcpOutgoing', 'Write'],
      ['TcpOutgoing', 'Close'],
      ['UdpOutgoing', 'Write'],
      ['UdpOutgoing', 'Close'],
    ] as const
  ).map(([m, v]) => (tagOf(clientMessage, m) << 8) | tagOf(clientMessage, m, v)),
);

/**
 * One client socket of a session, in the mirrord protocol: reads what the gateway must decide
 * (port subscriptions, the protocol version, Close) and relays everything else unchanged.
 * Subscriptions go through policy and the ledger first; a refusal is answered here and never
 * reaches the agent. Without an agent (no cluster) the gateway answers version, ping and
 * subscriptions itself, so sessions are still governed and recorded.
 */
export class RelaySession {
  /** The client's protocol version (from `SwitchProtocolVersion`); replies are gated by it. */
  version = BASELINE_VERSION;
  /** Ports this socket subscribed and the ledger granted: released when the socket goes. */
  readonly held = new Map<number, 'mirror' | 'steal'>();
  /** Subscriptions forwarded to the agent and not answered yet (answered SystemFailure if it is lost). */
  readonly awaiting: Array<{ mode: 'mirror' | 'steal'; port: number }> = [];
  /** open; closed by the client (Close, or close 1000); ended elsewhere (killed, …); failed (agent lost, bad bytes). */
  #state: 'open' | 'clientClosed' | 'ended' | 'failed' = 'open';

  constructor(
    private readonly deps: RelayDeps,
    readonly session: StartedSession,
    readonly io: RelayPorts,
    private readonly log: Logger,
    public config: unknown,
  ) {
    const fs = session.enforce?.fs;
    if (fs) {
      const gate = new FileGate(fs);
      if (gate.active) this.#files = gate;
    }
    const outgoing = session.enforce?.outgoing;
    if (outgoing) {
      const gate = new OutgoingGate(outgoing);
      if (gate.active) this.#outgoing = gate;
    }
    this.#refusalLog = new RefusalLog(log, () => deps.now());
    const exclude = session.enforce?.env_exclude ?? [];
    if (exclude.length) {
      const matchers = exclude.map(globMatcher);
      this.#envWithheld = (name) => matchers.some((m) => m(name));
    }
  }

  /** The policies' fs rules, when any apply to this session. */
  readonly #files: FileGate | undefined;
  /** The policies' network.outgoing rules, when any apply to this session. */
  readonly #outgoing: OutgoingGate | undefined;
  /** Does a policy withhold this environment variable (undefined: no policy excludes any)? */
  readonly #envWithheld: ((name: string) => boolean) | undefined;
  /** Refusals a client can repeat as fast as it sends: at most a line a second per socket, with a count. */
  readonly #refusalLog: RefusalLog;

  /** The refusals left out of the log since its last line, told once as the socket goes. */
  flushLogs(): void {
    this.#refusalLog.flush();
  }

  get state(): 'open' | 'clientClosed' | 'ended' | 'failed' {
    return this.#state;
  }

  /** One binary frame from the client (call in arrival order; await before the next). */
  fromClient(frame: Uint8Array): void | Promise<void> {
    if (this.#state !== 'open') return;
    let intent: ClientIntent;
    try {
      if (frame.length > 1 && PASS_THROUGH.has((frame[0]! << 8) | frame[1]!)) {
        const r = new Reader(frame);
        clientMessage.skip(r);
        if (r.pos !== frame.length) throw new Malformed(`${frame.length - r.pos} bytes after the message`, r.pos);
        if (this.io.hasAgent) this.io.toAgent(frame);
        return;
      }
      intent = intentOf(decodeExact(clientMessage, frame));
    } catch (e) {
      // One frame is one whole message: bytes missing at its end are a truncated message.
      return this.protocolError('client', e instanceof NeedMore ? new Malformed('truncated message', frame.length) : e);
    }
    switch (intent.kind) {
      case 'version':
        this.version = intent.version;
        if (this.io.hasAgent) return this.io.toAgent(frame);
        return this.io.toClient(
          encode(daemonMessage, { $: 'SwitchProtocolVersionResponse', v: negotiated(intent.version) }),
        );
      case 'ping':
        return this.io.hasAgent ? this.io.toAgent(frame) : this.io.toClient(pongMessage());
      case 'subscribe':
        return this.#traced(() => this.subscribe(intent, frame));
      case 'unsubscribe':
        return this.#traced(() => this.unsubscribe(intent.mode, intent.port, frame));
      case 'close':
        // The client ends this socket; the agent hears it too.
        if (this.io.hasAgent) this.io.toAgent(frame);
        this.#state = 'clientClosed';
        this.io.closeClient(1000, 'client sent Close');
        return;
      case 'file': {
        if (!this.io.hasAgent) return;
        const rule = this.#files?.verdict(intent.request);
        if (!rule || !this.#files) {
          this.#files?.forwarded(intent.request);
          return this.io.toAgent(frame);
        }
        this.#refusalLog.info(
          { path: (intent.request.v as { path: string }).path, rule, fs: this.session.enforce?.fs },
          rule === 'local' ? 'file opened locally by policy' : 'file open refused by policy (not found)',
        );
        for (const f of this.#files.answer(rule)) this.io.toClient(f);
        return;
      }
      case 'connect':
        return this.#traced(() => this.connect(intent, frame));
      case 'dns':
        if (!this.io.hasAgent) return;
        this.#outgoing?.lookup(intent.node);
        return this.io.toAgent(frame);
      case 'relay':
        if (this.io.hasAgent) this.io.toAgent(frame);
        return;
    }
  }

  /** A decision that may call policy or the ledger, in the connection's trace. */
  #traced<T>(fn: () => T): T {
    return this.deps.inTrace ? this.deps.inTrace(fn) : fn();
  }

  /** An outgoing connect: through to the agent, or refused here by the policies' network.outgoing rules. */
  private async connect(intent: Extract<ClientIntent, { kind: 'connect' }>, frame: Uint8Array): Promise<void> {
    if (!this.io.hasAgent) return;
    const gate = this.#outgoing;
    const blocked = gate?.check(intent);
    if (!gate || !blocked) {
      gate?.forwarded(intent);
      return this.io.toAgent(frame);
    }
    await recordBlocked(this.deps, this.session, this.#refusalLog, blocked);
    for (const f of gate.refuse(this.version, intent, blocked)) this.io.toClient(f);
  }

  private async unsubscribe(mode: 'mirror' | 'steal', port: number, frame: Uint8Array): Promise<void> {
    if (this.held.get(port) === mode) {
      this.held.delete(port);
      await unsubscribePort(this.deps, this.session, port).catch((err: unknown) =>
        this.log.warn({ err, port }, 'could not release a port; it goes with the session'),
      );
    }
    if (this.io.hasAgent) this.io.toAgent(frame);
  }

  private async subscribe(intent: Extract<ClientIntent, { kind: 'subscribe' }>, frame: Uint8Array): Promise<void> {
    const sub = { mode: intent.mode, port: intent.port, ...(intent.steal ? { steal: intent.steal } : {}) };
    if (!this.deps.bucket.take(this.deps.now())) {
      this.#refusalLog.warn({ port: intent.port }, 'subscriptions faster than SESSION_MESSAGES_PER_SECOND; refused');
      return this.io.toClient(
        refused(this.version, sub, {
          kind: 'SystemFailure',
          can_retry: true,
          code: OPERATOR_UNAVAILABLE,
          message: 'too many subscriptions a second on this session (SESSION_MESSAGES_PER_SECOND); retry later',
        }),
      );
    }
    let outcome;
    try {
      outcome = await subscribePort(
        this.deps,
        this.session,
        this.config,
        {
          mode: intent.mode,
          port: intent.port,
          ...(intent.filter ? { filter: intent.filter } : {}),
          ...(intent.rendered !== undefined ? { rendered: intent.rendered } : {}),
        },
        this.deps.limits,
      );
    } catch (e) {
      const err = toAppError(e);
      this.#refusalLog.warn({ err, port: intent.port, mode: intent.mode }, 'subscription not decided');
      if (err.code === 'Invalid') return this.io.toClient(this.badFilter(intent, err.message));
      // Only an operator that could not answer now (NATS, the ledger, policy away) is worth a retry.
      const transient = err.code === 'Unavailable';
      return this.io.toClient(
        refused(this.version, sub, {
          kind: 'SystemFailure',
          can_retry: transient,
          code: transient ? OPERATOR_UNAVAILABLE : OPERATOR_REFUSED,
          message: transient
            ? `mirrord-teams could not decide the subscription now: ${err.message}`
            : `mirrord-teams refused the subscription: ${err.message}`,
        }),
      );
    }
    if (!outcome.ok) {
      this.#refusalLog.info({ port: intent.port, mode: intent.mode, code: outcome.error.code }, outcome.error.message);
      // PortAlreadyStolen carries only the port: the holder (session, user) goes first as a
      // warning, which the mirrord CLI prints before its own refusal and the plugin folds into its line.
      if (outcome.refusal.kind === 'PortAlreadyStolen')
        this.io.toClient(
          encode(daemonMessage, { $: 'LogMessage', v: { message: outcome.error.message, level: { $: 'Warn' } } }),
        );
      return this.io.toClient(refused(this.version, sub, outcome.refusal));
    }
    // The ledger's warnings (a filter shadowed by another session's) reach the client as the agent's log lines do.
    for (const w of outcome.warnings) {
      this.log.warn({ port: intent.port }, w);
      this.io.toClient(encode(daemonMessage, { $: 'LogMessage', v: { message: w, level: { $: 'Warn' } } }));
    }
    this.held.set(intent.port, intent.mode);
    // Granted without the lock (continue): forwarding it would let the agent evict the holder's
    // subscription, so the gateway answers Ok itself and the agent never hears of it.
    if (this.io.hasAgent && !outcome.unlocked) {
      this.awaiting.push({ mode: intent.mode, port: intent.port });
      this.io.toAgent(frame);
    } else this.io.toClient(subscribed(intent.mode, intent.port));
  }

  /** A filter we refuse to compile: the agent's own answer for a bad regex (`RemoteError::BadHttpFilter*`). */
  private badFilter(intent: Extract<ClientIntent, { kind: 'subscribe' }>, why: string): Uint8Array {
    const remote: Extract<DaemonMessage, { $: 'Tcp' }>['v'] =
      intent.steal && intent.steal.$ === 'FilteredHttp'
        ? {
            $: 'SubscribeResult',
            v: { $: 'Err', v: { $: 'Remote', v: { $: 'BadHttpFilterRegex', v: [intent.steal.v[1], why] } } },
          }
        : intent.steal && intent.steal.$ === 'FilteredHttpEx'
          ? {
              $: 'SubscribeResult',
              v: { $: 'Err', v: { $: 'Remote', v: { $: 'BadHttpFilterExRegex', v: [intent.steal.v[1], why] } } },
            }
          : { $: 'SubscribeResult', v: { $: 'Err', v: { $: 'Remote', v: { $: 'AddressParsing', v: why } } } };
    return encode(daemonMessage, { $: intent.mode === 'mirror' ? 'Tcp' : 'TcpSteal', v: remote });
  }

  /**
   * One agent message on its way to the client: what the relay enforces (environment variables
   * the session's policies withhold), then what the gateway counts (subscription answers, stolen
   * connections and requests), read from the first bytes. Returns the bytes to forward.
   */
  fromAgent(frame: Uint8Array): Uint8Array[] {
    if (frame[0] === FILE_RESPONSE_TAG && this.#files) return this.#files.agentAnswered(frame);
    if (frame[0] === ENV_RESPONSE_TAG && (this.#envWithheld || this.session.queue_env)) return [this.#editEnv(frame)];
    if (this.#outgoing) {
      if (frame[0] === DNS_RESPONSE_TAG) this.#outgoing.resolved(frame);
      else if ((frame[0] === TCP_OUTGOING_TAG || frame[0] === UDP_OUTGOING_TAG) && frame[1] === LEGACY_CONNECTED)
        return this.#outgoing.agentConnected(frame[0] === TCP_OUTGOING_TAG ? 'TCP' : 'UDP', frame);
    }
    countAgentMessage(frame, this.awaiting, this.session, this.deps.traffic);
    return [frame];
  }

  /**
   * The environment answer as this session gets it: policy env.exclude withholds the variables
   * whose names match (whatever it asked for), and a split queue's variable names the session's
   * temporary queue instead of the original (there is no queue message in the protocol: the
   * local app learns its queue from its environment).
   */
  #editEnv(frame: Uint8Array): Uint8Array {
    const m = decodeExact(daemonMessage, frame);
    if (m.$ !== 'GetEnvVarsResponse' || m.v.$ !== 'Ok') return frame;
    const withheld = this.#envWithheld ? m.v.v.filter(([name]) => this.#envWithheld!(name)) : [];
    const queues = this.session.queue_env ?? {};
    const rewritten = m.v.v.filter(([name]) => Object.hasOwn(queues, name)).map(([name]) => name);
    if (withheld.length === 0 && rewritten.length === 0) return frame;
    if (withheld.length)
      this.log.info(
        { withheld: withheld.map(([name]) => name), policies_exclude: this.session.enforce?.env_exclude },
        'environment variables withheld by policy',
      );
    if (rewritten.length) this.log.info({ rewritten }, "split queue variables point at the session's temporary queues");
    const kept = m.v.v
      .filter(([name]) => !this.#envWithheld?.(name))
      .map(([name, value]): [string, string] => [name, Object.hasOwn(queues, name) ? queues[name]! : value]);
    return encode(daemonMessage, { $: 'GetEnvVarsResponse', v: { $: 'Ok', v: kept } });
  }

  /**
   * Bytes that can never decode (unknown tag, nested too deep, …): this connection closes 1007
   * with a log naming the tag and version; others go on. Anything else thrown while reading one
   * connection's bytes is a relay bug: that connection closes 1011. Never re-thrown, because
   * the agent's side runs in a socket event handler, where a throw would end the whole gateway.
   */
  protocolError(from: 'client' | 'agent', e: unknown): void {
    if (this.#state !== 'open') return;
    this.#state = 'failed';
    if (!(e instanceof Malformed)) {
      this.log.error(
        { from, err: e, protocol_version: this.version },
        `relay failed on a message from the ${from}; closing this connection`,
      );
      return this.io.closeClient(1011, 'mirrord-teams relay error');
    }
    const tag = e instanceof UnknownTag ? { tag: e.tag, type: e.type } : {};
    this.log.warn(
      { from, ...tag, protocol_version: this.version, err: e.message },
      e instanceof UnknownTag
        ? `unknown ${e.type} tag ${e.tag} from the ${from} (protocol ${this.version}); closing this connection`
        : `malformed message from the ${from} (protocol ${this.version}): ${e.message}; closing this connection`,
    );
    this.io.closeClient(1007, `malformed mirrord-protocol message from the ${from}`);
  }

  /**
   * The client leaves more unread than its budget (it sends requests and never reads the
   * answers): this socket closes 1008 and reads nothing more; its session waits for a reconnect.
   */
  notReading(held: number, budget: number): void {
    if (this.#state !== 'open') return;
    this.#state = 'failed';
    this.log.warn(
      { held_bytes: held, budget_bytes: budget, protocol_version: this.version },
      `the client does not read what it is sent: ${held} bytes held for it, over its budget of ${budget} (PROTOCOL_MAX_MESSAGE_BYTES + 2 MiB); closing this connection`,
    );
    this.io.closeClient(1008, 'the client does not read what it is sent; over its buffer budget');
  }

  /** The session ended elsewhere (killed, overridden, expired): the client is told who, then the socket closes. */
  ended(reason: string, by?: string): void {
    if (this.#state !== 'open') return;
    this.#state = 'ended';
    this.held.clear();
    this.io.toClient(closeMessage(closeReason(this.session.req.session_id, reason, by)));
    this.io.closeClient(1000, reason);
  }

  /**
   * The agent connection broke. The client is told (`Close`; its pending subscriptions get
   * `SystemFailure{can_retry}` first where its version has it) and its socket closes without
   * ending the session: a reconnect within the unused TTL gets a new agent connection,
   * otherwise the session ends as Unused and its ports are released.
   */
  agentLost(): void {
    if (this.#state !== 'open') return;
    this.#state = 'failed';
    const message = 'connection with mirrord-agent was lost';
    for (const p of this.awaiting.splice(0))
      this.io.toClient(refused(this.version, p, { kind: 'SystemFailure', can_retry: true, code: AGENT_LOST, message }));
    this.io.toClient(closeMessage(message));
    this.io.closeClient(1011, message);
  }

  /** Ports this socket still holds, to release when it goes without ending the session. */
  releaseAll(): Promise<unknown> {
    const ports = [...this.held.keys()];
    this.held.clear();
    return Promise.all(ports.map((p) => unsubscribePort(this.deps, this.session, p).catch(() => undefined)));
  }
}
