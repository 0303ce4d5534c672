import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { ConfigError, hostPort } from '../config/index.js';
import { createLogger } from '../log/index.js';

let readiness: () => boolean = () => true;

/**
 * The exit code of a service whose configuration is wrong (sysexits' EX_CONFIG): starting it
 * again cannot help, so a supervisor stops instead of restarting it.
 */
export const EXIT_CONFIG = 78;

/**
 * A listen that failed because the address is taken, as one line naming the variable that set
 * it (found by its value) and the fix; undefined for any other error.
 */
export function addressInUse(e: unknown, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const err = e as { code?: string; port?: number; address?: string };
  if (err?.code !== 'EADDRINUSE') return undefined;
  const name = Object.keys(env).find((k) => k.endsWith('_ADDR') && env[k]?.trim().endsWith(`:${err.port}`));
  const where = name ? `${name}=${env[name]}` : `${err.address ?? ''}:${err.port ?? '?'}`;
  return `${where} is in use: another process listens there (a second npm start?); stop it or set ${name ?? 'the address'} to a free host:port`;
}

/** What `/readyz` of HEALTH_ADDR answers: the service's own view (NATS connected, …). */
export function setReadiness(fn: () => boolean): void {
  readiness = fn;
}

/**
 * HEALTH_ADDR (host:port, off when unset): `/healthz` answers while the process runs its event
 * loop — a liveness probe, which must not fail while NATS is away (a restart would not bring
 * it back) — and `/readyz` answers 200 only while the service is ready.
 */
function startHealth(name: string, log: Logger): Server | undefined {
  const raw = process.env.HEALTH_ADDR;
  if (!raw) return undefined;
  const addr = hostPort(raw, 'HEALTH_ADDR');
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const ok = path === '/healthz' ? true : path === '/readyz' ? readiness() : undefined;
    res.writeHead(ok === undefined ? 404 : ok ? 200 : 503, { 'content-type': 'text/plain' });
    res.end(ok === undefined ? 'not found' : ok ? 'ok' : `${name} is not ready`);
  });
  server.on('error', (e) => log.error({ err: e, addr: raw }, 'health endpoint failed'));
  server.listen(addr.port, addr.host);
  server.unref();
  return server;
}

/**
 * The life cycle every service shares: start, log ready, and on SIGTERM/SIGINT drain (the
 * returned stop function) then exit. A config error is one line naming the variables.
 */
export async function runService(name: string, start: (log: Logger) => Promise<() => Promise<void>>): Promise<void> {
  const log = createLogger(name, (process.env.LOG_LEVEL as 'info' | undefined) ?? 'info');
  let stop: (() => Promise<void>) | undefined;
  try {
    startHealth(name, log);
    stop = await start(log);
  } catch (e) {
    const inUse = addressInUse(e);
    if (e instanceof ConfigError || inUse) {
      const why = inUse ?? (e as ConfigError).message;
      log.fatal({ problems: inUse ? [inUse] : (e as ConfigError).problems }, `invalid configuration: ${why}`);
      process.stderr.write(`${name}: invalid configuration: ${why}\n`);
      log.flush(() => process.exit(EXIT_CONFIG));
      return;
    } else {
      log.fatal({ err: e }, `${name} failed to start: ${e instanceof Error ? e.message : String(e)}`);
      process.stderr.write(`${name}: failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
    }
    log.flush(() => process.exit(1));
    return;
  }
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, `${name} draining`);
    const force = setTimeout(() => {
      log.error(`${name} did not drain within 10 s; exiting`);
      process.exit(1);
    }, 10_000);
    force.unref();
    try {
      await stop!();
      log.info(`${name} stopped`);
      log.flush(() => process.exit(0));
    } catch (e) {
      log.error({ err: e }, `${name} failed while draining`);
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}
