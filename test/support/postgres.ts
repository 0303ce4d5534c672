import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Postgres extends AsyncDisposable {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  url: string;
  port: number;
  /** A fresh database on this server, for one test's store. */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
  kill9(): Promise<void>;
  restart(): Promise<void>;
}

/** Debian's PostgreSQL binaries (`postgresql` package), or PG_BIN_DIR. */
function binDir(): string {
  if (process.env.PG_BIN_DIR) return process.env.PG_BIN_DIR;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (existsSync(join(root, v, 'bin', 'initdb'))) return join(root, v, 'bin');
  throw new Error('PostgreSQL is not installed: apt-get install postgresql (or set PG_BIN_DIR to its bin directory)');
}

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });

/** PostgreSQL refuses to run as root: as root, its programs run as the `postgres` user the package made. */
const asUser = (cmd: string, args: string[]): [string, string[]] =>
  process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];

/**
 * A real PostgreSQL on a free port with a private data directory (`initdb` + `postgres`), as the
 * tests start their own nats-server: kill -9 and restart keep the port and the data.
 * fsync stays on: durability tests kill it.
 */
export async function startPostgres(): Promise<Postgres> {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), 'mirrord-pg-'));
  const data = join(dir, 'data');
  if (process.getuid?.() === 0) {
    const pw = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const uid = Number(pw.stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    if (!Number.isInteger(uid) || pw.status !== 0)
      throw new Error('no postgres user: apt-get install postgresql creates it');
    chownSync(dir, uid, gid);
  }
  const [initCmd, initArgs] = asUser(join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    '--auth=trust',
    '--no-sync',
    '-E',
    'UTF8',
  ]);
  const init = spawnSync(initCmd, initArgs, { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  const port = await freePort();
  let proc: ChildProcess | undefined;

  const ready = async (): Promise<void> => {
    for (let i = 0; i < 400; i++) {
      if (proc && (proc.exitCode !== null || proc.signalCode !== null)) throw new Error('postgres exited early');
      const r = spawnSync(join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port)], { encoding: 'utf8' });
      if (r.status === 0) return;
      await sleep(50);
    }
    throw new Error('postgres did not accept connections within 20 s');
  };
  const launch = async (): Promise<void> => {
    const [cmd, args] = asUser(join(bin, 'postgres'), [
      '-D',
      data,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=${dir}`,
      '-c',
      'max_connections=200',
    ]);
    proc = spawn(cmd, args, { stdio: 'ignore' });
    await ready();
  };
  const waitExit = (p: ChildProcess | undefined) =>
    new Promise<void>((resolve) => {
      if (!p || p.exitCode !== null || p.signalCode !== null) return resolve();
      p.once('exit', () => resolve());
    });
  // `runuser` forwards signals to postgres; SIGKILL cannot be forwarded, so kill9 aims at postgres itself.
  const postmasterPid = (): number | undefined => {
    const r = spawnSync('head', ['-1', join(data, 'postmaster.pid')], { encoding: 'utf8' });
    const pid = Number(r.stdout.trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  };

  await launch();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const pg: Postgres = {
    url,
    port,
    async createDatabase(name: string) {
      const r = spawnSync(
        join(bin, 'psql'),
        ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-c', `CREATE DATABASE "${name}"`],
        {
          encoding: 'utf8',
        },
      );
      if (r.status !== 0) throw new Error(`CREATE DATABASE ${name}: ${r.stderr}`);
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      // Already gone (killed -9 and not restarted): its postmaster.pid is stale.
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      // Fast shutdown, sent to postgres itself (runuser in between does not pass every signal on).
      const pid = postmasterPid();
      if (pid) process.kill(pid, 'SIGINT');
      else proc?.kill('SIGINT');
      await waitExit(proc);
    },
    async kill9() {
      const pid = postmasterPid();
      if (pid) process.kill(pid, 'SIGKILL');
      await waitExit(proc);
    },
    async restart() {
      await launch();
    },
    async [Symbol.asyncDispose]() {
      await pg.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return pg;
}
