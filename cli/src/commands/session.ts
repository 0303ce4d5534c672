import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { loadSessionConfig } from '../client/mirrord-config.js';
import { currentBranch } from '../client/branch.js';
import { hostname, userInfo } from 'node:os';
import { randomBytes } from 'node:crypto';
import { AppError, ErrorCode, invalid, isAppError } from '#shared/errors/index.js';
import { showProgress } from '../render/progress.js';
import { checkFilterPattern } from '#shared/filters/index.js';
import { sessionIdFromBigInt, sessionIdToDecimal, sessionIdCandidates } from '#shared/ids/index.js';
import type { HttpFilterValue } from '#shared/protocol/index.js';
import { MirrordSocket } from '../client/mirrord-socket.js';
import { TrafficHandler } from '../client/traffic.js';
import { formatDottedTarget, parseTarget, validateNamespace } from '#shared/targets/index.js';
import { VERSION } from '#shared/version.js';
import { API, call, resolveGateway, TRACEPARENT, type GlobalOptions } from '../client/gateway.js';
import { operatorApi, type EventItem } from '#shared/contracts/http.js';
import { clientCertificate, forgetCertificate } from '../client/certificate.js';
import { print } from '../render/output.js';
import { configSplits, queueConnectQuery } from '../client/queue-params.js';
import { splitQueueLines } from '../render/split-env.js';
import { CONCURRENT_STEAL } from '#shared/mirrord-config/index.js';

interface StartOptions {
  target: string;
  namespace: string;
  steal: Array<{ port: number; local?: number }>;
  mirror: number[];
  headerFilter?: string;
  onConcurrentSteal: string;
  reconnectFor: number;
  copyTarget?: boolean;
  scaleDown?: boolean;
  configFile?: string;
}

/**
 * The mirrord config the session sends (`x-mirrord-config`): `-f FILE`, else
 * `.mirrord/mirrord.json`, checked like `verify-config` (templates rendered), with
 * `--copy-target` / `--scale-down` on top.
 */
function sessionConfig(o: StartOptions): Record<string, unknown> | undefined {
  let cfg: Record<string, unknown> = loadSessionConfig(o.configFile)?.value ?? {};
  if (o.scaleDown && !o.copyTarget) throw invalid('--scale-down', 'needs --copy-target');
  if (o.copyTarget)
    cfg = {
      ...cfg,
      feature: { ...((cfg.feature as object | undefined) ?? {}), copy_target: { scale_down: !!o.scaleDown } },
    };
  return Object.keys(cfg).length ? cfg : undefined;
}

/** `--steal PORT[:LOCAL]`: the target's port, and the local one stolen traffic goes to (default the same). */
const stealArg = (v: string, prev: Array<{ port: number; local?: number }> = []) => {
  const [remote, local, extra] = v.split(':');
  if (extra !== undefined) throw invalid('--steal', `"${v}" is not PORT or PORT:LOCAL`);
  const [port] = portArg(remote ?? '');
  return [...prev, { port: port!, ...(local !== undefined ? { local: portArg(local)[0]! } : {}) }];
};

/**
 * Why a subscription was refused, in one line, from the protocol's answer and the warnings
 * that came with it (the gateway names a port's holder in a warning just before PortAlreadyStolen).
 */
function describeRefusal(e: unknown, mode: string, warnings: string[]): string {
  const err = e as { $: string; v: unknown };
  if (err.$ === 'Close') return String(err.v);
  const inner = (err.v ?? {}) as { $?: string; v?: Record<string, unknown> | number };
  switch (inner.$) {
    case 'PortAlreadyStolen':
      return (
        warnings.find((w) => w.includes('already stolen')) ??
        `port ${String(inner.v)} is already stolen by another session (on_concurrent_steal=${mode})`
      );
    case 'Forbidden':
    case 'ForbiddenWithReason': {
      const v = inner.v as { policy_name: string | null; reason?: string };
      return `forbidden by ${v.policy_name ? `the mirrord policy "${v.policy_name}"` : 'a mirrord policy'}${v.reason ? ` (${v.reason})` : ''}`;
    }
    case 'SystemFailure':
      return String((inner.v as { message: string }).message);
    case 'Remote': {
      // The reason (BadHttpFilter*Regex's last field), never the filter's wire structure.
      const r = inner.v as unknown as { $: string; v: unknown };
      const why = Array.isArray(r.v) ? (r.v as unknown[]).at(-1) : r.v;
      return `the filter was refused: ${typeof why === 'string' ? why : r.$}`;
    }
    default:
      return JSON.stringify(inner, (_k, x: unknown) => (typeof x === 'bigint' ? String(x) : x));
  }
}

const portArg = (v: string, prev: number[] = []): number[] => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw invalid('port', `"${v}" is not a port 1-65535`);
  return [...prev, n];
};

/** whoami's real name: the passwd GECOS name when there is one, else the login name. */
function realName(): string {
  if (process.env.MIRRORD_CLIENT_NAME) return process.env.MIRRORD_CLIENT_NAME;
  const me = userInfo();
  try {
    const line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.split(':')[2] === String(me.uid));
    const gecos = line?.split(':')[4]?.split(',')[0]?.trim();
    if (gecos) return gecos;
  } catch {
    /* no passwd file (macOS, Windows): the login name will do */
  }
  return me.username;
}

/**
 * A split session's local app learns its temporary queues only from its environment (there is
 * no queue message in the protocol): ask for it once, as the CLI does before starting the app
 * (select `*`: every variable), and say which variables now name a temporary queue.
 */
async function printSplitQueues(ws: MirrordSocket): Promise<void> {
  ws.send({ $: 'GetEnvVarsRequest', v: { env_vars_filter: [], env_vars_select: ['*'] } });
  let m;
  try {
    m = await ws.next((x) => x.$ === 'GetEnvVarsResponse' || x.$ === 'Close');
  } catch (e) {
    // The session holds either way; only the hint about its queues is missing.
    process.stderr.write(`warning: the target's environment did not arrive: ${(e as Error).message}\n`);
    return;
  }
  if (m.$ !== 'GetEnvVarsResponse') return;
  if (m.v.$ !== 'Ok') {
    process.stderr.write(`warning: cannot read the target's environment: ${JSON.stringify(m.v.v)}\n`);
    return;
  }
  const lines = splitQueueLines(m.v.v);
  if (lines.length === 0)
    process.stderr.write("warning: no variable of the target's environment names a temporary queue\n");
  for (const line of lines) process.stderr.write(`${line}\n`);
}

class SessionEnded extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/**
 * Holds one session open: connects, prints the session id alone on the first stdout line,
 * subscribes the asked ports, and stays until Ctrl-C (ends it), a kill/override (exits non-zero
 * saying by whom) or a refusal. A dropped connection is retried with the same session id for
 * `--reconnect-for` seconds, re-sending the subscriptions (the ledger treats them as idempotent).
 */
async function runSession(globals: GlobalOptions, o: StartOptions): Promise<number> {
  const target = parseTarget(o.target, '--target');
  const ns = validateNamespace(o.namespace, '--namespace');
  if (!(CONCURRENT_STEAL as readonly string[]).includes(o.onConcurrentSteal))
    throw invalid('--on-concurrent-steal', `expected ${CONCURRENT_STEAL.join(', ')}, got "${o.onConcurrentSteal}"`);
  if (o.headerFilter !== undefined) {
    // Bounded as the gateway bounds it, so a filter it would refuse never starts a session first.
    checkFilterPattern('--header-filter', o.headerFilter);
    if (o.steal.length === 0) throw invalid('--header-filter', 'applies to --steal ports, and none was given');
  }
  const config = sessionConfig(o);
  // Direct mode, as the real CLI asks: the splits ride in the connect query.
  const splits = configSplits(config);
  const gw = await resolveGateway(globals);
  let der = await clientCertificate(gw).catch((e: unknown) => {
    // A wrong token or an unreachable gateway refuses the session too: one error, no warning first.
    if (isAppError(e, ErrorCode.Unauthorized) || isAppError(e, ErrorCode.Unavailable)) throw e;
    // Sessions work without one (user_id and client_id stay empty); say why there is none.
    process.stderr.write(`warning: no client certificate: ${(e as Error).message}\n`);
    return undefined;
  });
  const branch = currentBranch();
  const copy = (config?.feature as { copy_target?: unknown } | undefined)?.copy_target;
  const copying = !!copy && (copy as { enabled?: boolean }).enabled !== false;
  const wsUrl = `${gw.url.replace(/^http/, 'ws')}${API}/namespaces/${ns}/targets/${formatDottedTarget(target)}?connect=true&on_concurrent_steal=${o.onConcurrentSteal}${branch ? `&branch_name=${encodeURIComponent(branch)}` : ''}${queueConnectQuery(splits)}`;
  const subs: Array<{ mode: 'steal' | 'mirror'; port: number; filter?: HttpFilterValue }> = [
    ...o.steal.map((x) => ({
      mode: 'steal' as const,
      port: x.port,
      ...(o.headerFilter ? { filter: { $: 'Header' as const, v: o.headerFilter } } : {}),
    })),
    ...o.mirror.map((port) => ({ mode: 'mirror' as const, port })),
  ];
  const locals = new Map(o.steal.map((x) => [x.port, x.local ?? x.port] as const));
  // Like the mirrord CLI, the client chooses its session id: reconnects carry the same one.
  const sessionId = sessionIdFromBigInt(BigInt(`0x${randomBytes(8).toString('hex')}`));
  let connectedOnce = false;
  let userClosing = false;
  let current: MirrordSocket | undefined;
  const onSigint = () => {
    userClosing = true;
    process.stderr.write('ending session…\n');
    void current?.close(1000);
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);

  const connectOnce = async (): Promise<'dropped'> => {
    const headers: Record<string, string> = {
      'x-client-name': realName(),
      'x-client-hostname': hostname(),
      'x-mirrord-cli-version': VERSION,
      'x-session-id': sessionIdToDecimal(sessionId),
      traceparent: TRACEPARENT,
    };
    if (gw.token) headers.authorization = `Bearer ${gw.token}`;
    if (der) headers['x-client-der'] = der;
    if (config) headers['x-mirrord-config'] = Buffer.from(JSON.stringify(config)).toString('base64');
    let opened;
    // The gateway answers the upgrade once the agent (and the copy) is up: say so on a terminal.
    const done = showProgress(
      process.stderr,
      copying ? 'waiting for the copy target and its agent' : 'waiting for the agent',
    );
    try {
      opened = await MirrordSocket.open(wsUrl, headers, gw.ca, gw.tls).finally(done);
    } catch (e) {
      throw new AppError(
        ErrorCode.Unavailable,
        `cannot reach the gateway at ${gw.url} (${gw.source}): ${(e as Error).message}`,
      );
    }
    if (!(opened instanceof MirrordSocket)) {
      // Our code rides in details.error_code; the Status reason is Kubernetes' (ServiceUnavailable, Invalid).
      const details = opened.body.details as { error_code?: unknown } | undefined;
      const named = typeof details?.error_code === 'string' ? details.error_code : opened.body.reason;
      const code = typeof named === 'string' ? (named as ErrorCode) : ErrorCode.Unavailable;
      throw new AppError(code, String(opened.body.message ?? `HTTP ${opened.status}`));
    }
    const ws = (current = opened);
    const traffic = new TrafficHandler(ws, locals, process.stdout);
    let endedBy: string | undefined;
    // While a subscription awaits its answer, warnings wait too: a refusal says them in its one line.
    let held: string[] | undefined;
    const say = (level: 'Warn' | 'Error' | 'Info', message: string) =>
      process.stderr.write(`${{ Warn: 'warning', Error: 'error', Info: 'info' }[level]}: ${message}\n`);
    ws.onMessage((m) => {
      if (m.$ === 'Close') endedBy = m.v;
      else if (m.$ === 'LogMessage') {
        if (held && m.v.level.$ === 'Warn') held.push(m.v.message);
        else say(m.v.level.$, m.v.message);
      } else traffic.handle(m);
    });
    try {
      await ws.handshake();
      if (!connectedOnce) process.stdout.write(`${sessionId}\n`);
      else process.stderr.write(`reconnected to session ${sessionId}\n`);
      if (splits.length && !connectedOnce) await printSplitQueues(ws);
      for (const sub of subs) {
        const warnings: string[] = (held = []);
        const r = await ws.subscribe(sub.mode, sub.port, sub.filter).finally(() => (held = undefined));
        const desc = `${sub.mode} port ${sub.port}${sub.filter ? ` (filter header=${o.headerFilter})` : ''}`;
        const why = r.ok ? undefined : describeRefusal(r.error, o.onConcurrentSteal, warnings);
        // A warning the refusal's line already says is not printed twice.
        for (const w of warnings) if (why !== w) say('Warn', w);
        if (why !== undefined) {
          userClosing = true;
          await ws.close(1000);
          throw new SessionEnded(`refused: ${desc}: ${why}`, 1);
        }
        if (!connectedOnce)
          process.stderr.write(
            `${sub.mode === 'steal' ? 'stealing' : 'mirroring'} port ${sub.port}${sub.filter ? ` with filter header=${o.headerFilter}` : ''}${sub.mode === 'steal' && locals.get(sub.port) !== sub.port ? ` → 127.0.0.1:${locals.get(sub.port)}` : ''}\n`,
          );
      }
    } catch (e) {
      if (e instanceof SessionEnded || endedBy === undefined) throw e;
    }
    connectedOnce = true;
    const { code } = await ws.closed;
    traffic.close();
    if (endedBy !== undefined) throw new SessionEnded(endedBy, 2);
    if (userClosing) throw new SessionEnded(`session ${sessionId} ended`, code === 1000 ? 0 : 1);
    return 'dropped';
  };

  let renewed = false;
  try {
    let deadline = Number.POSITIVE_INFINITY;
    for (;;) {
      try {
        await connectOnce();
      } catch (e) {
        if (e instanceof SessionEnded) throw e;
        if (
          e instanceof AppError &&
          e.code === ErrorCode.Unauthorized &&
          e.message.startsWith('x-client-der') &&
          !renewed
        ) {
          // The cached certificate is not (or no longer) the operator's: get a new one, once.
          renewed = true;
          forgetCertificate(gw);
          der = await clientCertificate(gw);
          continue;
        }
        if (!connectedOnce || Date.now() > deadline || (e instanceof AppError && e.code !== ErrorCode.Unavailable))
          throw e;
      }
      if (deadline === Number.POSITIVE_INFINITY) {
        deadline = Date.now() + o.reconnectFor * 1000;
        process.stderr.write(`connection to the gateway lost; reconnecting for up to ${o.reconnectFor}s…\n`);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  } catch (e) {
    if (e instanceof SessionEnded) {
      if (e.message) process.stderr.write(`${e.message}\n`);
      return e.exitCode;
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}

export function registerSession(program: Command, globals: () => GlobalOptions): void {
  const session = program.command('session').description('run and inspect mirrord sessions');
  session
    .command('start')
    .description('start a session and hold it until Ctrl-C')
    .requiredOption('-t, --target <target>', 'deployment/x, pod/x[/container/c], … or targetless')
    .option('-n, --namespace <ns>', 'namespace of the target', 'default')
    .option(
      '--steal <port[:local]>',
      'steal traffic on this port, sending it to the local port (default the same; repeatable)',
      stealArg,
      [],
    )
    .option('--mirror <port>', 'mirror traffic on this port and print it as it arrives (repeatable)', portArg, [])
    .option('--header-filter <regex>', 'HTTP header filter for every --steal port')
    .option('--on-concurrent-steal <mode>', CONCURRENT_STEAL.join(' | '), 'abort')
    .option('--reconnect-for <seconds>', 'how long to retry a dropped connection', (v) => Number(v), 25)
    .option(
      '-f, --config-file <file>',
      'mirrord config (JSON/YAML; default .mirrord/mirrord.json), checked as verify-config does',
    )
    .option('--copy-target', 'run on a copy of the target (feature.copy_target)')
    .option('--scale-down', 'with --copy-target: scale the deployment to 0 while the session lives')
    .action(async (o: StartOptions) => {
      process.exitCode = await runSession(globals(), o);
    });
  session
    .command('events')
    .description("print a session's event trail")
    .requiredOption('--id <id>', 'session id (hex or decimal)')
    .option('-o, --output <format>', 'json | yaml (default: one line per event)')
    .action(async (o: { id: string; output?: string }) => {
      sessionIdCandidates(o.id, '--id');
      const gw = await resolveGateway(globals());
      // The gateway pages a long session's trail; follow the cursor to the end.
      const items: EventItem[] = [];
      let cont: string | undefined;
      do {
        const page = await call(gw, operatorApi.sessionEvents, {
          params: { id: o.id },
          ...(cont ? { query: new URLSearchParams({ continue: cont }) } : {}),
        });
        items.push(...page.items);
        cont = page.metadata.continue;
      } while (cont);
      if (await print({ items }, o.output)) return;
      for (const e of items) {
        const d = e.data;
        const detail = [
          d.port !== undefined ? `port=${String(d.port)}` : '',
          d.http_filter ? `filter=${String(d.http_filter)}` : '',
          d.lock === false ? 'lock=false' : '',
          d.reason ? `reason=${String(d.reason)}` : '',
          d.killed_by ? `by=${String(d.killed_by)}` : '',
          d.session_duration !== undefined ? `duration=${String(d.session_duration)}s` : '',
          e.type === 'SessionStarted'
            ? `target=${String(d.target)} namespace=${String(d.namespace)} user=${String(d.client_user)}`
            : '',
        ].filter(Boolean);
        process.stdout.write(`${e.time}  ${e.type.padEnd(15)} ${detail.join(' ')}\n`);
      }
    });
}
