import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Rig } from './rig.js';

/**
 * One fault: `inject` under load, `heal` once it has done its harm (restoring the replica
 * count, restarting what was killed). Recovery is timed from `inject` for a loss the system
 * must ride by itself, from `heal` for an outage nothing can ride (a full disk, Jira down).
 */
export interface Fault {
  name: string;
  inject(rig: Rig): Promise<void>;
  heal(rig: Rig): Promise<void>;
  /** How long the fault lasts before heal (ms). */
  holdMs: number;
  recoveryFrom: 'inject' | 'heal';
  /** Recovery is the Jira backlog delivered, not the ledger answering. */
  recoveryIs?: 'jira';
}

export function mainFaults(leaseMs: number, jiraDownMs: number): Fault[] {
  let killed = 0;
  let stopped = 0;
  return [
    {
      name: 'kill -9 the standby ledger',
      holdMs: 0,
      recoveryFrom: 'inject',
      async inject(rig) {
        killed = 1 - (await rig.active());
        await rig.ledgers[killed]!.kill9();
      },
      heal: async (rig) => void (await rig.startLedger(killed)),
    },
    {
      name: 'kill -9 the active ledger',
      holdMs: 0,
      recoveryFrom: 'inject',
      async inject(rig) {
        killed = await rig.active();
        await rig.ledgers[killed]!.kill9();
      },
      async heal(rig) {
        // The standby takes over by itself; only then is the killed one back (as the standby).
        await rig.ledgers[1 - killed]!.waitFor((l) => l.msg === 'ledger ready', 60_000);
        await rig.startLedger(killed);
      },
    },
    {
      name: `SIGSTOP the active ledger for ${(leaseMs * 2.5) / 1000} s (lease ${leaseMs / 1000} s)`,
      holdMs: leaseMs * 2.5,
      recoveryFrom: 'inject',
      async inject(rig) {
        stopped = await rig.active();
        rig.ledgers[stopped]!.proc.kill('SIGSTOP');
      },
      async heal(rig) {
        const p = rig.ledgers[stopped]!;
        p.proc.kill('SIGCONT');
        // It finds its lease taken and steps down; its pod starts it again, as the standby.
        await p.waitFor((l) => /^ledger stepping down/.test(l.msg), 20_000);
        await rig.restarted(stopped);
      },
    },
    {
      name: 'kill -9 a NATS node (of 3, R3 streams)',
      holdMs: 2000,
      recoveryFrom: 'inject',
      inject: (rig) => rig.nats.nodes[0]!.kill9(),
      heal: (rig) => rig.nats.nodes[0]!.restart(),
    },
    {
      name: 'kill -9 PostgreSQL, restart after 1 s',
      holdMs: 1000,
      recoveryFrom: 'inject',
      inject: (rig) => rig.pg.kill9(),
      heal: (rig) => rig.pg.restart(),
    },
    {
      name: 'kill -9 a jira-reporter',
      holdMs: 0,
      recoveryFrom: 'inject',
      recoveryIs: 'jira',
      inject: (rig) => rig.reporters[0]!.kill9(),
      heal: async (rig) => void (await rig.startReporter(0)),
    },
    {
      name: `Jira webtrigger down for ${jiraDownMs / 1000} s (503)`,
      holdMs: jiraDownMs,
      recoveryFrom: 'heal',
      recoveryIs: 'jira',
      inject: async (rig) => void (rig.hook.down = true),
      heal: async (rig) => void (rig.hook.down = false),
    },
  ];
}

/** A small tmpfs for the SQLite ledger's disk, or why one cannot be mounted here. */
export function mountSmallDisk(sizeMb: number): { dir: string; unmount(): void } | { error: string } {
  const dir = mkdtempSync(join(tmpdir(), 'chaos-disk-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) return { error: (r.stderr || r.error?.message || 'mount failed').trim() };
  return {
    dir,
    unmount() {
      spawnSync('umount', ['-l', dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Fills the file system at `dir` to the last byte; returns the filler to delete. */
export function fillDisk(dir: string): string {
  const filler = join(dir, 'filler');
  const fd = openSync(filler, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch {
    // ENOSPC: full. Single bytes fill the last block.
    try {
      for (;;) writeSync(fd, Buffer.alloc(1));
    } catch {
      // full to the byte
    }
  } finally {
    closeSync(fd);
  }
  return filler;
}
