/**
 * What `npm start` checks before it starts anything: every setting of every service it will run,
 * with the environment that service will get (each loader is the service's own, so the rules are
 * the ones it applies), and that the addresses they listen on are free. Each problem is one line
 * naming the variable and what it expects; none is worth a restart.
 */
import { createServer } from 'node:net';
import { ConfigError } from '#shared/config/index.js';
import { loadAgentManagerConfig } from '../../services/agent-manager/src/config.js';
import { loadGatewayConfig } from '../../services/gateway/src/config.js';
import { loadJiraConfig } from '../../services/jira-reporter/src/config.js';
import { loadLedgerConfig } from '../../services/ledger/src/config.js';
import { loadLicenseServerConfig } from '../../services/license-server/src/config.js';
import { loadPolicyConfig } from '../../services/policy/src/config.js';
import { loadQueueSplitterConfig } from '../../services/queue-splitter/src/config.js';

const LOADERS: Record<string, (env: NodeJS.ProcessEnv) => Readonly<Record<string, unknown>>> = {
  ledger: loadLedgerConfig,
  gateway: loadGatewayConfig,
  'agent-manager': loadAgentManagerConfig,
  policy: loadPolicyConfig,
  'jira-reporter': loadJiraConfig,
  'license-server': loadLicenseServerConfig,
  'queue-splitter': loadQueueSplitterConfig,
};

/** A `*_ADDR` setting's host and port (parsed `{host, port}` or a `host:port` string); port 0 picks a free one. */
function listenAddress(value: unknown): { host: string; port: number } | undefined {
  if (value && typeof value === 'object' && 'port' in value && 'host' in value)
    return { host: String(value.host), port: Number(value.port) };
  const m = typeof value === 'string' ? /^(.*):(\d+)$/.exec(value.trim()) : null;
  return m ? { host: m[1] || '0.0.0.0', port: Number(m[2]) } : undefined;
}

/** Whether this process could listen there now (the error code when not). */
function tryListen(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    s.listen(port, host, () => s.close(() => resolve(undefined)));
  });
}

/** Every problem, once each (a NATS_URL every service shares is named once). */
export async function preflight(services: readonly string[], envFor: (name: string) => NodeJS.ProcessEnv) {
  const problems = new Set<string>();
  const addresses = new Map<string, { host: string; port: number }>();
  for (const name of services) {
    const load = LOADERS[name];
    if (!load) continue; // the demo's consumer: no settings of its own
    try {
      const cfg = load(envFor(name));
      for (const [k, v] of Object.entries(cfg)) {
        const a = k.endsWith('_ADDR') ? listenAddress(v) : undefined;
        if (a && a.port !== 0) addresses.set(`${k}=${a.host}:${a.port}`, a);
      }
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      for (const p of e.problems) problems.add(p);
    }
  }
  for (const [setting, a] of addresses) {
    const code = await tryListen(a.host, a.port);
    const name = setting.split('=')[0]!;
    if (code === 'EADDRINUSE')
      problems.add(
        `${setting} is in use: another process listens there (a second npm start?); stop it or set ${name} to a free host:port`,
      );
    else if (code) problems.add(`${setting}: cannot listen there (${code}); set ${name} to an address of this machine`);
  }
  return [...problems];
}
