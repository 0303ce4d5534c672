import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAppError } from '#shared/errors/index.js';
import { checkFilterPatterns, clipFilter, type FilterLimits } from '#shared/filters/index.js';
import { configFilterOf, renderProtocolFilter, type HttpFilterValue } from '#shared/protocol/index.js';
import { createCa, signCsr, verifyIssued } from '#shared/pki/index.js';
import { TokenBucket } from '../../services/gateway/src/domain/token-bucket.js';
import { decodeCursor, parseTimeBound } from '../../services/gateway/src/domain/time-range.js';
import { renderPorts } from '../../cli/src/render/status.js';
import { csrFor, type KeySpec } from '../support/csr.js';

const refused = (fn: () => unknown, field: string, message: RegExp) =>
  assert.throws(fn, (e: unknown) => {
    assert.ok(isAppError(e, 'Invalid'), `expected Invalid, got ${String(e)}`);
    assert.equal(e.field, field);
    assert.match(e.message, message);
    return true;
  });

/** A steal's filter as the relay checks it: the protocol value, in its config spelling and as rendered. */
const check = (f: HttpFilterValue, limits?: FilterLimits) =>
  checkFilterPatterns('http_filter', configFilterOf(f), renderProtocolFilter(f), limits);
const header = (v: string): HttpFilterValue => ({ $: 'Header', v });
const all = (...filters: HttpFilterValue[]): HttpFilterValue => ({ $: 'Composite', v: { all: true, filters } });

describe('HTTP filters are bounded in length and matching cost', () => {
  const limits = { maxLength: 64, maxRepeats: 5 };
  it('given nested repetition, when a steal filter is checked, then it is refused naming the field and the limit', () => {
    refused(
      () => check(header('(a+)+$')),
      'http_filter.header_filter',
      /too costly to match: it nests one repetition inside another/,
    );
    refused(
      () => check(all({ $: 'Path', v: '^/x' }, header('^x-(\\w+\\s?)*$'))),
      'http_filter.all_of[1].header',
      /nests one repetition/,
    );
  });
  it('given more quantifiers than HTTP_FILTER_MAX_REPEATS, when checked, then the limit is named', () => {
    refused(
      () => check({ $: 'Path', v: 'a*b*c*d*e*f*' }, limits),
      'http_filter.path_filter',
      /more than the 5 allowed \(HTTP_FILTER_MAX_REPEATS\)/,
    );
  });
  it('given a pattern or a rendered filter longer than HTTP_FILTER_MAX_LENGTH, when checked, then it is refused', () => {
    refused(
      () => check(header('x'.repeat(65)), limits),
      'http_filter.header_filter',
      /65 characters, more than the 64 allowed \(HTTP_FILTER_MAX_LENGTH\)/,
    );
    const parts = Array.from({ length: 4 }, (_, i) => header(`^x-tenant-${i}: ${'y'.repeat(10)}$`));
    refused(() => check(all(...parts), limits), 'http_filter', /as rendered, more than the 64 allowed/);
  });
  it("given the documents' filters (look-around, named groups, the Rust spellings), when checked, then they pass", () => {
    for (const f of [
      '^User-Agent: (?!kube-probe)',
      '(?P<user>\\S+)@acme',
      '(?<=^x-id: )[0-9a-f]{8}',
      'X-PG-Tenant: Avi.+',
      '^/api/v1/.*',
    ]) {
      assert.doesNotThrow(() => check(header(f)));
      assert.equal(renderProtocolFilter(header(f)), `header=${f}`);
    }
  });
});

describe('per-connection message rate', () => {
  it('given a bucket of 3 a second, when 4 messages arrive at once, then the 4th is refused until time passes', () => {
    const b = new TokenBucket(3, 0);
    assert.deepEqual([b.take(0), b.take(0), b.take(0), b.take(0)], [true, true, true, false]);
    assert.equal(b.take(200), false);
    assert.equal(b.take(400), true);
  });
});

describe('query parameters out of range say so', () => {
  it('given a duration reaching before 1970 or an impossible date, then the parameter is named', () => {
    refused(() => parseTimeBound('since', '99999999999999999999d', Date.now()), 'since', /reaches back before 1970/);
    refused(() => parseTimeBound('until', '2026-13-45T99:00:00Z', Date.now()), 'until', /is not a valid date/);
    refused(() => parseTimeBound('at', '1900-01-01T00:00:00Z', Date.now()), 'at', /is before 1970/);
  });
  it('given a cursor whose position is beyond a safe integer, then continue is named (not an internal name)', () => {
    refused(
      () => decodeCursor(Buffer.from('p:99999999999999999999').toString('base64url')),
      'continue',
      /not a cursor this server issued/,
    );
  });
});

describe('operator status stays readable with long filters', () => {
  it('given a 65,000-character filter, when the table is rendered, then it is cut with the count of what was left out', () => {
    const long = `header=${'a'.repeat(65_000)}`;
    const cell = renderPorts([{ port: 80, kind: 'steal', filter: long }]);
    assert.ok(cell.length < 200, `cell is ${cell.length} characters`);
    assert.match(cell, /… \(\+64947 chars, -o json shows all\)$/);
    assert.equal(clipFilter('header=short'), 'header=short');
  });
});

describe('client certificates: only keys that cannot be forged today', () => {
  const cases: Array<[KeySpec, RegExp | undefined]> = [
    [{ type: 'ed25519' }, undefined],
    [{ type: 'ec', curve: 'prime256v1' }, undefined],
    [{ type: 'ec', curve: 'secp384r1' }, undefined],
    [{ type: 'rsa', bits: 2048 }, undefined],
    [{ type: 'rsa', bits: 512 }, /an RSA key of 512 bits is too weak/],
    [{ type: 'rsa', bits: 1024 }, /an RSA key of 1024 bits is too weak/],
    [{ type: 'dsa', bits: 2048 }, /a DSA key is not accepted/],
    [{ type: 'ec', curve: 'secp256k1' }, /an ECDSA key on curve secp256k1 is not accepted/],
    [{ type: 'ed448' }, /a ED448 key is not accepted/],
  ];
  it('given CSRs of every kind, when signed, then weak and odd keys are refused naming the key type', async () => {
    const ca = await createCa('test-ca');
    for (const [spec, refusal] of cases) {
      const csr = csrFor(spec);
      const label = JSON.stringify(spec);
      if (!refusal) {
        const signed = await signCsr(ca, csr, { commonName: 'alice', usage: 'client', days: 1 });
        assert.ok(signed.publicKey.length > 0, label);
        continue;
      }
      await assert.rejects(signCsr(ca, csr, { commonName: 'alice', usage: 'client', days: 1 }), (e: unknown) => {
        assert.ok(isAppError(e, 'Invalid'), `${label}: ${String(e)}`);
        assert.match(e.message, refusal, label);
        assert.match(e.message, /Ed25519/);
        return true;
      });
    }
  });

  it('given the CSR the real mirrord 3.250.0 CLI sent (captured), when signed, then its Ed25519 key is certified and is the user_id', async () => {
    const pem = readFileSync(new URL('../fixtures/mirrord-cli/csr.pem', import.meta.url), 'utf8');
    const ca = await createCa('test-ca');
    const signed = await signCsr(ca, pem, { commonName: 'jim', usage: 'client', days: 1 });
    const cert = new X509Certificate(signed.certPem);
    assert.equal(cert.publicKey.asymmetricKeyType, 'ed25519');
    // The 32 key bytes the CLI labelled X25519: the last 32 of its request's key bit string.
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const raw = der.subarray(37, 69);
    assert.equal(signed.publicKey, raw.toString('base64').replace(/=+$/, ''));
    // One flipped signature bit: refused, naming the request.
    der[der.length - 1]! ^= 1;
    const forged = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await assert.rejects(signCsr(ca, forged, { commonName: 'jim', usage: 'client', days: 1 }), /does not verify/);
  });

  it('given a PEM whose body is not base64, when signed, then it is Invalid naming the certificate request (not a 500)', async () => {
    const ca = await createCa('test-ca');
    for (const body of ['!!!not base64$$', 'a'])
      await assert.rejects(
        signCsr(ca, `-----BEGIN CERTIFICATE REQUEST-----\n${body}\n-----END CERTIFICATE REQUEST-----\n`, {
          commonName: 'jim',
          usage: 'client',
          days: 1,
        }),
        (e: unknown) => {
          assert.ok(isAppError(e, 'Invalid'), String(e));
          assert.equal(e.field, 'certificate request');
          assert.match(e.message, /its PEM body is not base64/);
          return true;
        },
      );
  });

  it('given the certificate the real CLI sends back re-encoded (NULL parameters), when checked, then it is the one issued', () => {
    const fixture = (f: string) => readFileSync(new URL(`../fixtures/mirrord-cli/${f}`, import.meta.url), 'utf8');
    const header = fixture('x-client-der.txt').trim();
    const caPem = fixture('operator-ca.crt');
    const during = new Date('2026-12-15T00:00:00Z');
    const ok = verifyIssued(caPem, header, during);
    assert.ok(ok.ok, JSON.stringify(ok));
    assert.equal(ok.subject, 'CN=jim');
    // The same bytes with one byte of the key changed are not ours.
    const der = Buffer.from(header, 'base64');
    der[der.length - 100]! ^= 1;
    assert.deepEqual(verifyIssued(caPem, der.toString('base64'), during), {
      ok: false,
      reason: 'not issued by this operator',
    });
  });
});
