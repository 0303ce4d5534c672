import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { billingPeriod, canonicalLicense, licenseValidSeconds } from '#shared/license/index.js';
import { loadLicense } from '../../shared/src/license/load.js';
import { tempDir } from '../support/tmp.js';

const keys = generateKeyPairSync('ed25519');
const signed = (doc: Record<string, unknown>) => ({
  ...doc,
  signature: sign(null, canonicalLicense(doc), keys.privateKey).toString('base64'),
});
const files = (license: unknown, key = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString()) => {
  const dir = tempDir('license');
  writeFileSync(join(dir, 'license.yaml'), YAML.stringify(license));
  writeFileSync(join(dir, 'key.pem'), key);
  return { license: join(dir, 'license.yaml'), key: join(dir, 'key.pem') };
};
const base = { name: 'Acme dev', organization: 'Acme', expire_at: '2027-06-30', seats: 25, subscription_id: 'sub-1' };
const refusedAt = (fn: () => unknown, field: string, re?: RegExp) =>
  assert.throws(fn, (e: { field?: string; message: string }) => {
    assert.equal(e.field, field, e.message);
    if (re) assert.match(e.message, re);
    return true;
  });

describe('licence file (OPERATOR_LICENSE_FILE)', () => {
  it('given a licence signed with the configured key, then it loads with its seats and the defaults', () => {
    const f = files(signed(base));
    assert.deepEqual(loadLicense(f.license, f.key), { ...base, seat_mode: 'machine', billing_day: 1 });
  });

  it('given the raw Ed25519 key in base64 instead of PEM, then it verifies the same', () => {
    const raw = keys.publicKey.export({ type: 'spki', format: 'der' }).subarray(-32).toString('base64');
    const f = files(signed({ ...base, seat_mode: 'user', billing_day: 15 }), raw);
    assert.equal(loadLicense(f.license, f.key)?.billing_day, 15);
  });

  it('refuses a licence changed after signing, or unsigned while a key is configured, naming the field', () => {
    const tampered = { ...signed(base), seats: 250 };
    const f = files(tampered);
    refusedAt(() => loadLicense(f.license, f.key), 'OPERATOR_LICENSE_FILE: signature', /does not verify/);
    const g = files(base);
    refusedAt(() => loadLicense(g.license, g.key), 'OPERATOR_LICENSE_FILE: signature', /required/);
    // Without a key, an unsigned licence is accepted as before.
    assert.equal(loadLicense(g.license)?.seats, 25);
  });

  it('refuses bad values naming the field and what it expected', () => {
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ ...base, seats: -1 }, 'seats', /negative/],
      [{ ...base, seat_mode: 'team' }, 'seat_mode', /machine|user/],
      [{ ...base, billing_day: 31 }, 'billing_day', /1 to 28/],
      [{ ...base, expire_at: 'next year' }, 'expire_at', /YYYY-MM-DD/],
      [{ organization: 'Acme', expire_at: '2027-01-01' }, 'name', /./],
    ];
    for (const [doc, field, re] of cases) {
      const f = files(doc);
      refusedAt(() => loadLicense(f.license), `OPERATOR_LICENSE_FILE: ${field}`, re);
    }
  });

  it('the sample licence in deploy/ loads as documented', () => {
    const l = loadLicense(fileURLToPath(new URL('../../deploy/sample/license.yaml', import.meta.url)));
    assert.deepEqual(
      [l?.seats, l?.seat_mode, l?.billing_day, l?.subscription_id],
      [25, 'machine', 1, 'example-subscription'],
    );
  });

  it('billing periods run from the billing day to the next, across the year', () => {
    const at = (s: string) => Date.parse(`${s}T12:00:00Z`);
    assert.equal(billingPeriod(at('2026-12-02'), 5).id, '2026-11-05');
    assert.equal(billingPeriod(at('2026-12-05'), 5).id, '2026-12-05');
    const jan = billingPeriod(at('2027-01-03'), 10);
    assert.deepEqual([jan.id, new Date(jan.to).toISOString().slice(0, 10)], ['2026-12-10', '2027-01-10']);
    assert.equal(billingPeriod(at('2026-12-31'), 1).id, '2026-12-01');
  });

  it('counts validity to the end of the expiry day', () => {
    assert.equal(licenseValidSeconds({ expire_at: '2027-06-30' }, Date.parse('2027-06-30T23:59:00Z')), 59);
    assert.ok(licenseValidSeconds({ expire_at: '2027-06-30' }, Date.parse('2027-07-01T00:00:01Z')) < 0);
  });
});
