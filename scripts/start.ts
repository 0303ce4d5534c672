/**
 * `npm start`: the whole system on embedded defaults. Each service runs as its own child
 * process; their JSON log lines pass through unchanged to stdout. A service that exits is
 * restarted with backoff; only one that keeps failing fast stops the system. When nothing answers at
 * NATS_URL and nats-server is on PATH, a local one is started with JetStream and its store
 * under ./data/. Ctrl-C / SIGTERM drains the services, then NATS.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { authorizationConf, busUsers } from '#shared/nats/permissions.js';
import { ensureBusCredentials } from '#shared/nats/credentials.js';
import { connect as tcpConnect } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BROKERS_FETCH_COMMAND } from './brokers.js';
import { brokersMissing, startDemoBrokers, type DemoBrokers } from './demo/brokers.js';
import { QUEUE_CONSUMERS_SCRIPT } from './demo/queue-consumers.js';
import { EXIT_CONFIG } from '#shared/service/index.js';
import { preflight } from './bootstrap/preflight.js';
import { summary } from './bootstrap/summary.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const DATA = resolve(ROOT, 'data');
/** Each service's NATS seed (`<service>.nk`); `subscriber.nk` reads the event stream. */
const NATS_AUTH = resolve(DATA, 'nats-auth');
/** `npm start -- --demo-cluster`: a real kube-apiserver and the node simulator as the cluster (users of test/kube/seed/tokens.csv). */
const DEMO = process.argv.includes('--demo-cluster') || process.env.MIRRORD_DEMO_CLUSTER === '1';
const DEMO_KUBECONFIG = resolve(DATA, 'dev-cluster.kubeconfig');
/** The demo serves operator.metalbear.co through the API server's aggregation layer (an APIService), so the real mirrord CLI works: the gateway speaks TLS. */
const DEMO_TLS = resolve(DATA, 'demo-tls');
const GATEWAY_ADDR = process.env.GATEWAY_ADDR ?? '127.0.0.1:8080';
/** On a cluster (KUBECONFIG, or the demo one) agent-manager and policy run too: agents, MirrordPolicy and profiles. */
const ON_CLUSTER = DEMO || !!process.env.KUBECONFIG;
/** jira-reporter runs when there is somewhere to report to. */
const JIRA = !!process.env.JIRA_WEBTRIGGER_URL;
/**
 * With a licence and a reports key, the license server runs on the same NATS (its own hub):
 * the ledger's usage is sourced locally, the gateway admits seats through it.
 */
const LICENSE_SERVER = !!process.env.OPERATOR_LICENSE_FILE && !!process.env.LICENSE_KEY;
/**
 * The demo splits queues when it can run real brokers (Java and `npm run brokers:fetch`'s jars):
 * ElasticMQ and Kafka, the consumer workloads in namespace `queues`, the queue-splitter, and the
 * demo consumer playing the workloads' pods. Otherwise this says why (logged once at start).
 */
const QUEUES_OFF = DEMO ? brokersMissing() : 'not the demo';
const QUEUES = QUEUES_OFF === undefined;
const SERVICES: readonly string[] = [
  ...(ON_CLUSTER ? ['ledger', 'agent-manager', 'policy'] : ['ledger']),
  ...(JIRA ? ['jira-reporter'] : []),
  ...(LICENSE_SERVER ? ['license-server'] : []),
  ...(QUEUES ? ['demo-consumer', 'queue-splitter'] : []),
  'gateway',
];
/** What runs for a name that is not services/<name>/src/main.ts. */
const SCRIPTS: Record<string, string> = { 'demo-consumer': QUEUE_CONSUMERS_SCRIPT };
/** Each service's own settings on top of the shared ones (SQS_ENDPOINT is filled once ElasticMQ is up). */
const serviceEnv: Record<string, Record<string, string>> = QUEUES
  ? {
      gateway: { QUEUE_SPLITTING: 'true' },
      'queue-splitter': {
        // The splitter acts with its own identity and the chart's RBAC, as when installed.
        QUEUE_SPLITTER_KUBE_CONTEXT: 'mirrord-queue-splitter',
        OPERATOR_NAMESPACE: 'mirrord',
        QUEUE_SPLITTING_SQS: 'true',
        AWS_REGION: 'us-east-1',
        // ElasticMQ checks no credentials, but the SDK wants some.
        AWS_ACCESS_KEY_ID: 'demo',
        AWS_SECRET_ACCESS_KEY: 'demo',
        // Node 20 is supported here; the SDK's notice about its future releases is noise in the demo.
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        QUEUE_SPLITTER_METRICS_ADDR: process.env.QUEUE_SPLITTER_METRICS_ADDR ?? '127.0.0.1:9101',
      },
    }
  : {};
let brokers: DemoBrokers | undefined;
const licenseEnv: Record<string, string> = LICENSE_SERVER
  ? {
      LICENSE_SERVER: process.env.LICENSE_SERVER || NATS_URL,
      LICENSE_SERVER_ADDR: process.env.LICENSE_SERVER_ADDR ?? '127.0.0.1:8090',
    }
  : {};
const clusterEnv: Record<string, string> = DEMO
  ? {
      KUBECONFIG: DEMO_KUBECONFIG,
      GATEWAY_AUTH: 'kubernetes',
      GATEWAY_KUBE_CONTEXT: 'mirrord-operator',
      AGENT_MANAGER_KUBE_CONTEXT: 'mirrord-operator',
      POLICY_KUBE_CONTEXT: 'mirrord-operator',
      GATEWAY_TLS_CERT_FILE: resolve(DEMO_TLS, 'tls.crt'),
      GATEWAY_TLS_KEY_FILE: resolve(DEMO_TLS, 'tls.key'),
      GATEWAY_REQUESTHEADER_CA_FILE: resolve(DEMO_TLS, 'front-ca.crt'),
      GATEWAY_REQUESTHEADER_ALLOWED_NAMES: 'front-proxy-client',
      GATEWAY_CLIENT_CA_FILE: resolve(DEMO_TLS, 'client-ca.crt'),
    }
  : {};

const log = (level: string, msg: string, extra: Record<string, unknown> = {}) =>
  process.stdout.write(
    `${JSON.stringify({ level, time: new Date().toISOString(), service: 'supervisor', pid: process.pid, ...extra, msg })}\n`,
  );

function natsHostPort(url: string): { host: string; port: number } {
  const first = url.split(',')[0]!.trim();
  const u = new URL(first.includes('://') ? first : `nats://${first}`);
  return { host: u.hostname || '127.0.0.1', port: Number(u.port || 4222) };
}

function answers(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((res) => {
    const s = tcpConnect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      res(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('data', (d) => done(d.toString().startsWith('INFO')));
    s.once('error', () => done(false));
  });
}

const children = new Map<string, ChildProcess>();
let nats: ChildProcess | undefined;
let stopping = false;

/** The last lines a child wrote to stderr (its one-line reason when it cannot start). */
const lastStderr = new Map<string, string>();

/**
 * A child's output as JSON lines on stdout. With `held`, its info lines are held back instead
 * (nats-server's banner is noise for a person) and shown only if it fails.
 */
function pipeLines(child: ChildProcess, name: string, held?: string[]): void {
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      // Service lines are JSON with `service` already; anything else is wrapped so stdout
      // stays one JSON object per line.
      if (line.startsWith('{')) process.stdout.write(`${line}\n`);
      else if (line.trim()) log('info', line, { child: name });
    }
  });
  child.stderr!.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) {
      if (!line.trim()) continue;
      lastStderr.set(name, line.trim());
      if (held && /\[(INF|DBG|TRC)\]/.test(line)) {
        held.push(line);
        if (held.length > 200) held.shift();
        continue;
      }
      // nats-server tags its lines; keep its level instead of calling all stderr a warning.
      const tag = /\[(INF|WRN|ERR|FTL|DBG|TRC)\]/.exec(line)?.[1];
      const level =
        tag === 'INF'
          ? 'info'
          : tag === 'DBG' || tag === 'TRC'
            ? 'debug'
            : tag === 'ERR' || tag === 'FTL'
              ? 'error'
              : 'warn';
      log(level, line, { child: name, stream: 'stderr' });
    }
  });
}

/**
 * The services' NATS credentials: what the caller set (NATS_NKEY_FILE / NATS_CREDS_DIR), else
 * the seeds a local start made under data/nats-auth.
 */
function natsAuthEnv(): Record<string, string> {
  if (process.env.NATS_NKEY_FILE || process.env.NATS_CREDS_DIR) return {};
  return existsSync(NATS_AUTH) ? { NATS_CREDS_DIR: NATS_AUTH } : {};
}

async function startNats(): Promise<void> {
  const { host, port } = natsHostPort(NATS_URL);
  if (await answers(host, port)) {
    log('info', `using NATS at ${NATS_URL}`);
    return;
  }
  const which = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' });
  if (which.status !== 0) {
    process.stderr.write(
      `No NATS answers at ${NATS_URL} and nats-server is not on PATH: install it (apt-get install nats-server) or set NATS_URL to a running NATS with JetStream.\n`,
    );
    process.exit(1);
  }
  mkdirSync(resolve(DATA, 'nats'), { recursive: true });
  // Auth on from the first start: one nkey per service (made once under data/nats-auth, 0600)
  // and the permissions derived from the contracts; nothing without a key may connect.
  const keys = ensureBusCredentials(NATS_AUTH);
  const conf = resolve(DATA, 'nats.conf');
  writeFileSync(
    conf,
    `listen: "${host}:${port}"\njetstream { store_dir: "${resolve(DATA, 'nats')}" }\n${authorizationConf(busUsers(keys))}`,
    { mode: 0o600 },
  );
  nats = spawn('nats-server', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  const held: string[] = [];
  pipeLines(nats, 'nats-server', held);
  // Quiet while it works; everything it said when it does not.
  const tell = () => process.stderr.write(`${held.join('\n')}\n`);
  nats.once('exit', (code, signal) => {
    if (stopping) return;
    tell();
    process.stderr.write(`npm start: nats-server exited (${signal ?? `code ${code}`}); its log is above\n`);
    void shutdown(1);
  });
  for (let i = 0; i < 100; i++) {
    if (await answers(host, port)) {
      log('info', `started nats-server with JetStream at ${NATS_URL}, store ${resolve(DATA, 'nats')}`);
      return;
    }
    if (nats.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (nats.exitCode === null) tell();
  process.stderr.write(`npm start: nats-server did not come up at ${NATS_URL}; its log is above\n`);
  process.exit(1);
}

/** A service that exits this many times within FAST_WINDOW_MS stops the system: it cannot start. */
const MAX_FAST_FAILURES = 5;
const FAST_WINDOW_MS = 60_000;
/** A run this long counts as healthy: its exit starts the backoff from the beginning. */
const STABLE_MS = 60_000;
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15_000, 30_000];

const failures = new Map<string, number[]>();

/**
 * Runs a service and keeps it running: an exit the supervisor did not ask for is logged and
 * the service restarted after a backoff (the others keep serving; clients of a restarted
 * service retry). Resolves at the service's first "ready" line.
 */
function startService(name: string): Promise<void> {
  return new Promise((ready) => launch(name, ready));
}

/** The environment a service runs with: the caller's, then what this start decides for it. */
const envFor = (name: string): NodeJS.ProcessEnv => ({
  ...process.env,
  NATS_URL,
  ...natsAuthEnv(),
  ...clusterEnv,
  ...licenseEnv,
  ...serviceEnv[name],
});

/** A JSON log line, or undefined when a chunk cut it short (the supervisor must not throw on one). */
function parsed(line: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** Each service's ready line (the gateway's carries its URL). */
const readyLines = new Map<string, Record<string, unknown>>();

function launch(name: string, ready: () => void): void {
  const startedAt = Date.now();
  const script = SCRIPTS[name] ?? resolve(ROOT, `services/${name}/src/main.ts`);
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: ROOT,
    env: envFor(name),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.set(name, child);
  pipeLines(child, name);
  child.stdout!.on('data', (d: Buffer) => {
    const lines = d.toString().split('\n');
    // A second stack on the same NATS: its ledger waits as a standby, and a person should know why.
    const standby = lines.find((l) => l.includes('"msg":"ledger standby:'));
    if (standby) {
      const holder = (parsed(standby)?.holder as { instance?: string } | undefined)?.instance ?? 'another ledger';
      process.stderr.write(
        `npm start: ${holder} holds the ledger's writer lease on ${NATS_URL}; this ledger is its standby, and this stack's other services start if it takes over\n`,
      );
    }
    const line = lines.find((l) => l.includes(`"msg":"${name} ready"`));
    if (!line) return;
    readyLines.set(name, parsed(line) ?? {});
    ready();
  });
  child.once('exit', (code, signal) => {
    if (children.get(name) === child) children.delete(name);
    if (stopping) return;
    if (code === EXIT_CONFIG) {
      // Its configuration is wrong: a restart would fail the same way.
      const why = lastStderr.get(name) ?? `${name}: invalid configuration`;
      log('error', `${name} cannot start: ${why}; the system stops`, { child: name });
      process.stderr.write(`npm start: ${why}\n`);
      void shutdown(1);
      return;
    }
    const now = Date.now();
    const recent = (now - startedAt > STABLE_MS ? [] : (failures.get(name) ?? [])).filter(
      (t) => now - t < FAST_WINDOW_MS,
    );
    recent.push(now);
    failures.set(name, recent);
    const how = signal ?? `code ${code}`;
    if (recent.length >= MAX_FAST_FAILURES) {
      log(
        'error',
        `${name} exited (${how}) ${recent.length} times within ${FAST_WINDOW_MS / 1000} s; it cannot run, so the system stops`,
        { child: name, failures: recent.length },
      );
      void shutdown(1);
      return;
    }
    const delay = BACKOFF_MS[Math.min(recent.length - 1, BACKOFF_MS.length - 1)]!;
    log(
      'warn',
      `${name} exited (${how}); restarting it in ${delay} ms (restart ${recent.length} of at most ${MAX_FAST_FAILURES - 1} within ${FAST_WINDOW_MS / 1000} s)`,
      { child: name, exit: how, restart_in_ms: delay },
    );
    setTimeout(() => {
      if (!stopping) launch(name, ready);
    }, delay);
  });
}

/**
 * How long a child has after SIGTERM before it is killed (SUPERVISOR_GRACE_MS). Above the 10 s
 * a service gives itself to drain, so only one that ignores SIGTERM or hangs is ever killed.
 */
const GRACE_MS = Number(process.env.SUPERVISOR_GRACE_MS) > 0 ? Number(process.env.SUPERVISOR_GRACE_MS) : 12_000;

/** SIGTERM, then SIGKILL after the grace period: no child outlives the supervisor as an orphan. */
async function stopChild(c: ChildProcess, name: string): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const done = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  const t = setTimeout(() => {
    log('warn', `${name} did not exit within ${GRACE_MS} ms of SIGTERM; killing it`, { child: name, pid: c.pid });
    c.kill('SIGKILL');
  }, GRACE_MS);
  await done;
  clearTimeout(t);
}

async function shutdown(code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  log('info', 'stopping services');
  // Gateway first (no new sessions), then the ledger (drains its queue and outbox), then NATS.
  for (const name of [...SERVICES].reverse()) {
    const c = children.get(name);
    if (c) await stopChild(c, name);
  }
  await Promise.all([...children].map(([name, c]) => stopChild(c, name)));
  if (brokers) await brokers.stop().catch((e: unknown) => log('warn', `stopping the brokers: ${String(e)}`));
  if (nats) await stopChild(nats, 'nats-server');
  log('info', 'stopped');
  process.exit(code);
}

// Whatever ends the supervisor (an uncaught error included), its children end with it.
process.on('exit', () => {
  for (const c of [...children.values(), ...(nats ? [nats] : [])])
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

/** The demo cluster (test/kube/dev-cluster.ts), seeded, writing a kubeconfig for the services (and you). */
function startDemoCluster(): Promise<void> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      resolve(ROOT, 'test/kube/dev-cluster.ts'),
      '--kubeconfig',
      DEMO_KUBECONFIG,
      '--aggregate',
      `https://${GATEWAY_ADDR}`,
      '--tls-dir',
      DEMO_TLS,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.set('dev-cluster', child);
  pipeLines(child, 'dev-cluster');
  return new Promise((res, rej) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('dev cluster ready') && res());
    child.once('exit', (code) => rej(new Error(`dev cluster exited (${code})`)));
  });
}

const problems = await preflight(SERVICES, envFor);
if (problems.length) {
  for (const p of problems) process.stderr.write(`npm start: ${p}\n`);
  process.exit(EXIT_CONFIG);
}
mkdirSync(DATA, { recursive: true });
await startNats();
try {
  if (DEMO && !QUEUES)
    log(
      'info',
      `queue splitting is off in the demo: ${QUEUES_OFF}; to enable it, run \`${BROKERS_FETCH_COMMAND}\` (needs Java 17 and Maven) and restart the demo`,
    );
  // The cluster and the brokers start side by side (each takes seconds); the queue objects need both.
  const startBrokers = async () => {
    brokers = await startDemoBrokers();
    log('info', 'started ElasticMQ and Kafka for queue splitting', {
      sqs_endpoint: brokers.sqsEndpoint,
      kafka_brokers: brokers.kafkaBrokers,
    });
  };
  await Promise.all([DEMO ? startDemoCluster() : undefined, QUEUES ? startBrokers() : undefined]);
  if (brokers) {
    // Imported here: it brings the test cluster's helpers, which `npm start` without the demo never needs.
    const { applyDemoQueues } = await import('./demo/queue-objects.js');
    await applyDemoQueues(DEMO_KUBECONFIG, brokers.kafkaBrokers.join(','));
    serviceEnv['queue-splitter']!.SQS_ENDPOINT = brokers.sqsEndpoint;
  }
  for (const s of SERVICES) await startService(s);
  const gatewayUrl = String(readyLines.get('gateway')?.url ?? `${DEMO ? 'https' : 'http'}://${GATEWAY_ADDR}`);
  process.stderr.write(
    summary({
      services: SERVICES,
      natsUrl: NATS_URL,
      gatewayUrl,
      ...(DEMO ? { demo: { kubeconfig: DEMO_KUBECONFIG, queues: QUEUES } } : {}),
    }),
  );
  log('info', 'mirrord-teams is up', {
    gateway: `${DEMO ? 'https' : 'http'}://${GATEWAY_ADDR}`,
    services: SERVICES,
    ...(DEMO ? { kubeconfig: DEMO_KUBECONFIG, tokens: 'test/kube/seed/tokens.csv' } : {}),
    ...(brokers ? { queue_splitting: { sqs_endpoint: brokers.sqsEndpoint, kafka_brokers: brokers.kafkaBrokers } } : {}),
  });
} catch (e) {
  // A start that fails once shutdown is under way (a child stopped mid-start) is expected.
  if (!stopping) {
    log('error', `the system cannot start: ${e instanceof Error ? e.message : String(e)}`);
    void shutdown(1);
  }
}
