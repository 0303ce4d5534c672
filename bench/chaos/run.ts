/**
 * `npm run chaos`: faults injected one after another under load, against real processes on
 * loopback (a three-node NATS cluster, PostgreSQL, two ledgers, two jira-reporters; then a
 * SQLite ledger on a tiny disk). After each: every acknowledged event in the store and on the
 * stream exactly once, no port locked by two sessions, no session's Jira report applied twice (a
 * repeat after a kill carries the same idempotency key; the receiver applies it once), every
 * session live or ended with a reason. Prints the table; exits non-zero on any violation.
 * CHAOS_PROFILE=short is the one CI runs (test/chaos/chaos.int.test.ts).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startNatsServer } from '../../test/support/nats-server.js';
import { startService } from '../../test/support/service-process.js';
import { inspect, noFindings, type ChaosRow, type Findings } from './checks.js';
import { doorPhases, FrontDoor } from './front-door.js';
import { fillDisk, mainFaults, mountSmallDisk, type Fault } from './faults.js';
import { runLoad, timeToRecover, type LoadStats } from './load.js';
import { Rig } from './rig.js';

export interface Profile {
  name: 'short' | 'full';
  commandsPerFault: number;
  concurrency: number;
  leaseMs: number;
  /** WebSocket sessions per fault through the replicated gateways. */
  doorSessions: number;
  /** How long the Jira webtrigger answers 503 (ms): reports ending meanwhile are retried. */
  jiraDownMs: number;
}

export const PROFILES: Record<Profile['name'], Profile> = {
  short: { name: 'short', commandsPerFault: 350, concurrency: 50, leaseMs: 2000, doorSessions: 30, jiraDownMs: 2000 },
  full: { name: 'full', commandsPerFault: 1500, concurrency: 60, leaseMs: 3000, doorSessions: 150, jiraDownMs: 5000 },
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`${s}\n`);
const TARGETS = 10;

/** Time from `since` until every Jira session ended before it has an accepted POST. */
async function jiraCaughtUp(posts: Map<string, number>, ends: LoadStats['jiraEnds'], since: number): Promise<number> {
  const due = () => ends.filter((e) => e.at <= since).every((e) => (posts.get(e.id) ?? 0) > 0);
  while (!due()) {
    if (Date.now() - since > 120_000) return Number.POSITIVE_INFINITY;
    await sleep(50);
  }
  return Date.now() - since;
}

async function phase(rig: Rig, fault: Fault, p: Profile, before: Findings): Promise<ChaosRow> {
  let recovery: Promise<number> = Promise.resolve(Number.NaN);
  let done: Promise<void> = Promise.resolve();
  const stats = await runLoad(rig.nc, {
    commands: p.commandsPerFault,
    concurrency: p.concurrency,
    targets: TARGETS,
    jiraEvery: 5,
    midway: (stats) =>
      (done = (async () => {
        const injected = Date.now();
        await fault.inject(rig);
        if (fault.recoveryFrom === 'inject' && !fault.recoveryIs) recovery = timeToRecover(rig.nc, injected);
        await sleep(fault.holdMs);
        await fault.heal(rig);
        const from = fault.recoveryFrom === 'inject' ? injected : Date.now();
        if (fault.recoveryIs === 'jira') recovery = jiraCaughtUp(rig.hook.posts, stats.jiraEnds, from);
        else if (fault.recoveryFrom === 'heal') recovery = timeToRecover(rig.nc, from);
      })()),
  }).catch((e: unknown) => {
    throw new Error(`${fault.name}: ${String(e)}\n${rig.describe()}`, { cause: e });
  });
  await done;
  const recoveryMs = await recovery;
  const f = await inspect(rig.nc, rig.dbUrl, stats.acked, rig.hook.posts, rig.hook.keysBySession);
  log(`chaos:   ${JSON.stringify({ ...f, recoveryMs, retries: stats.retries, jiraRepeats: rig.hook.repeats })}`);
  const row: ChaosRow = {
    fault: fault.name,
    commands: stats.commands,
    sessions: stats.sessions,
    retries: stats.retries,
    lost: f.lost,
    duplicated: f.duplicated - before.duplicated,
    doubleLocks: f.doubleLocks - before.doubleLocks,
    doublePosts: f.doublePosts - before.doublePosts,
    unreported: f.unreported,
    unexplained: f.unexplained,
    recoveryMs,
    leftoverAgents: 0,
  };
  Object.assign(before, f);
  return row;
}

/** A SQLite ledger whose disk fills up mid-load and is freed 3 s later. */
async function diskFull(p: Profile): Promise<ChaosRow> {
  const fault = 'SQLite disk full for 3 s (16 MB tmpfs)';
  const { events: _, ...empty } = { ...noFindings(), leftoverAgents: 0 };
  const disk = mountSmallDisk(16);
  if ('error' in disk)
    return { fault, commands: 0, sessions: 0, retries: 0, recoveryMs: Number.NaN, ...empty, skipped: disk.error };
  const nats = await startNatsServer();
  const dbUrl = `sqlite:${join(disk.dir, 'ledger.db')}`;
  const ledger = await startService('ledger', { ...nats.env, LEDGER_DB: dbUrl, USER_MAX_SESSIONS: '0' });
  const nc = await nats.connect(undefined, { maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  try {
    let recovery: Promise<number> = Promise.resolve(Number.NaN);
    let done: Promise<void> = Promise.resolve();
    const stats = await runLoad(nc, {
      commands: p.commandsPerFault,
      concurrency: p.concurrency,
      targets: TARGETS,
      midway: () =>
        (done = (async () => {
          const filler = fillDisk(disk.dir);
          await sleep(3000);
          rmSync(filler);
          recovery = timeToRecover(nc, Date.now());
        })()),
    });
    await done;
    const recoveryMs = await recovery;
    const f = await inspect(nc, dbUrl, stats.acked, new Map());
    log(`chaos:   disk full: ${JSON.stringify({ ...f, recoveryMs, retries: stats.retries })}`);
    return {
      fault,
      commands: stats.commands,
      sessions: stats.sessions,
      retries: stats.retries,
      recoveryMs,
      lost: f.lost,
      duplicated: f.duplicated,
      doubleLocks: f.doubleLocks,
      doublePosts: 0,
      unreported: 0,
      unexplained: f.unexplained,
      leftoverAgents: 0,
    };
  } finally {
    await nc.close();
    await ledger.stop();
    await nats[Symbol.asyncDispose]();
    disk.unmount();
  }
}

export async function runChaos(p: Profile): Promise<ChaosRow[]> {
  const rows: ChaosRow[] = [];
  const rig = await Rig.start(p.leaseMs);
  let door: Promise<FrontDoor> | undefined;
  try {
    try {
      const seen = noFindings();
      for (const fault of mainFaults(p.leaseMs, p.jiraDownMs)) {
        // The front door (a test cluster, its services) starts while the Jira faults wait for a
        // redelivery and an outage: its start fills those waits instead of adding its own.
        if (fault.recoveryIs === 'jira' && !door) {
          door = FrontDoor.start();
          door.catch(() => undefined); // awaited below; a failed start must not go unhandled meanwhile
        }
        log(`chaos: ${fault.name}…`);
        rows.push(await phase(rig, fault, p, seen));
      }
    } finally {
      await rig.stop();
    }
  } catch (e) {
    // A failed main phase leaves no front door running behind it.
    await door?.then((fd) => fd.stop()).catch(() => undefined);
    throw e;
  }
  // The disk-full phase runs on a system of its own (NATS, a SQLite ledger on a tmpfs): next to
  // the front door's phases. Each stops its processes before a failure is passed on.
  log('chaos: SQLite disk full…');
  const [doorRows, diskRow] = await Promise.allSettled([doorPhases(p, log, door), diskFull(p)]);
  if (doorRows.status === 'rejected') throw doorRows.reason;
  if (diskRow.status === 'rejected') throw diskRow.reason;
  rows.push(...doorRows.value, diskRow.value);
  return rows;
}

export const violations = (r: ChaosRow): number =>
  r.lost + r.duplicated + r.doubleLocks + r.doublePosts + r.leftoverAgents + r.unreported + r.unexplained;

export function renderTable(rows: ChaosRow[]): string {
  const head = [
    'fault',
    'load (commands / sessions)',
    'attempts retried',
    'lost',
    'duplicated',
    'double locks',
    'double Jira posts',
    'leftover agents',
    'recovery',
  ];
  const ms = (n: number) => (Number.isFinite(n) ? `${(n / 1000).toFixed(2)} s` : 'never');
  const body = rows.map((r) =>
    r.skipped
      ? [r.fault, `skipped: ${r.skipped}`, '', '', '', '', '', '', '']
      : [
          r.fault,
          `${r.commands} / ${r.sessions}`,
          String(r.retries),
          String(r.lost + r.unreported + r.unexplained),
          String(r.duplicated),
          String(r.doubleLocks),
          String(r.doublePosts),
          String(r.leftoverAgents),
          ms(r.recoveryMs),
        ],
  );
  return [head, head.map(() => '---'), ...body].map((c) => `| ${c.join(' | ')} |`).join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const name = (process.env.CHAOS_PROFILE ?? 'full') as Profile['name'];
  const p = PROFILES[name];
  if (!p) {
    log(`CHAOS_PROFILE: unknown profile "${name}" (short, full)`);
    process.exit(2);
  }
  const t0 = Date.now();
  const rows = await runChaos(p);
  const total = rows.reduce((n, r) => n + r.commands, 0);
  process.stdout.write(
    `${renderTable(rows)}\n\n${total} commands in ${((Date.now() - t0) / 1000).toFixed(0)} s (${p.name} profile)\n`,
  );
  const bad = rows.filter((r) => violations(r) > 0 || (!r.skipped && !Number.isFinite(r.recoveryMs)));
  process.exit(bad.length > 0 ? 1 : 0);
}
