import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderTable } from '../../cli/src/render/table.js';
import { usageJson } from '../../cli/src/render/license.js';
import { showProgress } from '../../cli/src/render/progress.js';
import type { UsageReport } from '#shared/license/report.js';

describe('plugin output: compact tables, ISO times, progress on a terminal only', () => {
  it('given three rows, when rendered compact (the default), then one text line per row and no rule between rows', () => {
    // when
    const out = renderTable(
      ['A', 'B'],
      [
        ['1', 'x'],
        ['2', 'y'],
        ['3', 'z'],
      ],
    );
    // then
    assert.equal(
      out,
      ['+---+---+', '| A | B |', '+---+---+', '| 1 | x |', '| 2 | y |', '| 3 | z |', '+---+---+', ''].join('\n'),
    );
  });

  it("given mirrord's own table (operator status), when rendered mirrord-style, then a rule follows every row", () => {
    const out = renderTable(['A'], [['1'], ['2']], 'mirrord');
    assert.equal(out, ['+---+', '| A |', '+---+', '| 1 |', '+---+', '| 2 |', '+---+', ''].join('\n'));
  });

  it('given a usage report in epoch milliseconds, when printed as JSON, then its times are RFC 3339 as in the CSV', () => {
    const report: UsageReport = {
      from: '2026-12-01',
      to: '2027-01-01',
      primary_key: 'user',
      seats_used: 1,
      seats_licensed: null,
      overages: 0,
      unverified_sessions: 0,
      refused: 0,
      ci: { sessions: 0, max_concurrency: 0 },
      rows: [
        {
          key: 'alice',
          seats: 1,
          sessions: 2,
          clusters: ['east'],
          users: ['alice'],
          first_at: 0,
          last_at: null,
          overages: 0,
        },
      ],
      clusters: [{ name: 'east', last_seen: 1_800_000_000_000, heartbeat_ms: 60_000, silent: false }],
    };
    // when
    const j = usageJson(report) as { rows: Array<Record<string, unknown>>; clusters: Array<Record<string, unknown>> };
    // then
    assert.equal(j.rows[0]!.first_at, '1970-01-01T00:00:00.000Z');
    assert.equal(j.rows[0]!.last_at, null);
    assert.equal(j.clusters[0]!.last_seen, '2027-01-15T08:00:00.000Z');
    assert.equal(j.clusters[0]!.heartbeat_ms, 60_000, 'a duration stays a number');
  });

  it('given a terminal, when a wait lasts, then a progress line counts the seconds and is cleared at the end', async () => {
    const written: string[] = [];
    const stop = showProgress({ isTTY: true, write: (s: string) => written.push(s) }, 'waiting for the agent', 20);
    await new Promise((r) => setTimeout(r, 70));
    stop();
    assert.ok(written.length >= 2, JSON.stringify(written));
    assert.match(written[0]!, /^\r\x1b\[Kwaiting for the agent… \d+s$/);
    assert.equal(written.at(-1), '\r\x1b[K');
  });

  it('given no terminal (a pipe, a log), when a wait lasts, then nothing is printed', async () => {
    const written: string[] = [];
    const stop = showProgress({ isTTY: false, write: (s: string) => written.push(s) }, 'waiting for the agent', 10);
    await new Promise((r) => setTimeout(r, 40));
    stop();
    assert.deepEqual(written, []);
  });
});
