import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PROFILES, renderTable, runChaos, violations } from '../../bench/chaos/run.js';

/**
 * The short profile of `npm run chaos`: every fault once under load, against the real
 * processes. Nothing acknowledged is lost or doubled, no port is locked twice, no session's Jira
 * report is applied twice (a repeat carries the same idempotency key, applied once by the
 * receiver), and the system takes commands again after each fault.
 */
describe('chaos (short profile)', () => {
  it('rides every fault without loss, duplicates or double locks, and recovers', { timeout: 600_000 }, async () => {
    // given the replicated system under the short profile's load, when each fault is injected
    const rows = await runChaos(PROFILES.short);
    const table = renderTable(rows);
    // then every row is clean and recovered
    for (const r of rows) {
      assert.equal(violations(r), 0, `${r.fault}: violations\n${table}`);
      if (!r.skipped) assert.ok(Number.isFinite(r.recoveryMs), `${r.fault}: never recovered\n${table}`);
    }
    // and each fault really bit: the load had to retry through the ledger and disk outages
    const retried = (name: RegExp) => rows.find((r) => name.test(r.fault))!.retries;
    assert.ok(retried(/active ledger/) > 0, `kill -9 of the active ledger interrupted no command\n${table}`);
    assert.ok(retried(/PostgreSQL/) > 0, `kill -9 of PostgreSQL interrupted no command\n${table}`);
    // and the whole load ran: each ledger phase's commands, each door phase's sessions
    for (const r of rows.filter((x) => !x.skipped)) {
      const door = /gateway|agent-manager|policy/.test(r.fault);
      assert.ok(
        door ? r.sessions >= PROFILES.short.doorSessions : r.commands >= PROFILES.short.commandsPerFault,
        `${r.fault}\n${table}`,
      );
    }
  });
});
