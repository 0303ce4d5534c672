import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { formatDuration } from '#shared/format/duration.js';
import { renderOperatorStatus, renderSessionsTable } from '../../cli/src/render/status.js';
import { renderLicenseStatus } from '../../cli/src/render/license.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
const aviram = 'Aviram Hassan/aviram@metalbear.co@avirams-macbook-pro-2.local';

describe('status table rendering', () => {
  it('matches the seed byte for byte: a session without ports', () => {
    const out = renderSessionsTable([
      {
        id: '487F4F2B6D2376AD',
        duration_secs: 4,
        user: aviram,
        target: 'deployment/ip-visit-counter',
        namespace: 'default',
        locked_ports: [],
      },
    ]);
    assert.equal(out, fixture('status-no-ports.txt'));
  });
  it('matches the seed byte for byte: a filtered steal', () => {
    const out = renderSessionsTable([
      {
        id: 'C527FE7D9C30979E',
        duration_secs: 13,
        user: aviram,
        target: 'deployment/ip-visit-counter',
        namespace: 'default',
        locked_ports: [{ port: 80, kind: 'steal', filter: 'header=X-PG-Tenant: Avi.+' }],
      },
    ]);
    assert.equal(out, fixture('status-steal.txt'));
  });
  it('puts several ports on several lines of one row and separates rows', () => {
    const out = renderSessionsTable([
      {
        id: 'AAAAAAAAAAAAAAAA',
        duration_secs: 192,
        user: 'A/a@h',
        target: 'pod/p',
        namespace: 'ns',
        locked_ports: [
          { port: 80, kind: 'steal' },
          { port: 9090, kind: 'mirror' },
        ],
      },
      {
        id: 'BBBBBBBBBBBBBBBB',
        duration_secs: 7500,
        user: 'B/b@h',
        target: 'targetless',
        namespace: 'ns',
        locked_ports: [],
      },
    ]);
    assert.equal(out, fixture('status-multi.txt'));
  });
  it('prints the header and an empty table when there are no sessions', () => {
    assert.equal(renderSessionsTable([]), fixture('status-empty.txt'));
  });
  it('formats durations like the seed', () => {
    assert.deepEqual([4, 13, 59, 60, 192, 3600, 7500, 90000].map(formatDuration), [
      '4s',
      '13s',
      '59s',
      '1m0s',
      '3m12s',
      '1h0m',
      '2h5m',
      '1d1h',
    ]);
  });
});

describe('operator status header', () => {
  const op = (statistics: Record<string, unknown>) => ({
    spec: {
      operator_version: '3.250.0',
      default_namespace: 'default',
      license: { name: 'Acme dev', organization: 'Acme', expire_at: '2027-06-30' },
    },
    status: { sessions: [], statistics: { dau: 2, mau: 5, ...statistics } },
  });
  it('shows the seats used this billing period, of those licensed', () => {
    const out = renderOperatorStatus(op({ seats_used: 3, seats_licensed: 25, billing_period_start: '2026-12-01' }));
    assert.match(out, /^Operator Monthly Users: 5\nOperator Seats: 3 of 25 used \(billing period since 2026-12-01\)$/m);
    assert.match(renderOperatorStatus(op({ seats_used: 3, seats_licensed: null })), /^Operator Seats: 3 used$/m);
    assert.doesNotMatch(renderOperatorStatus(op({})), /Seats/, 'an older operator sends no seats');
  });
});

describe('licence status rendering', () => {
  const l = {
    name: 'Acme dev',
    organization: 'Acme',
    expire_at: '2027-06-30',
    subscription_id: null,
    valid_seconds: 3 * 86_400 + 7200,
    seat_mode: 'user' as const,
    seats_used: 4,
    seats_licensed: null,
    billing_period_start: '2026-12-15',
  };
  it('says what is left, the mode, and the seats (unlimited, expired, not reported)', () => {
    assert.equal(
      renderLicenseStatus(l),
      [
        'License: Acme dev (Acme)',
        'Expires: 2027-06-30 (3d2h left)',
        'Subscription: none',
        'Seat mode: user',
        'Seats this billing period (since 2026-12-15): 4 (not limited)',
      ].join('\n'),
    );
    assert.match(renderLicenseStatus({ ...l, valid_seconds: -5 }), /\(EXPIRED\)/);
    assert.match(renderLicenseStatus({ ...l, seats_used: null }), /^Seats: not reported by this operator$/m);
  });
});
