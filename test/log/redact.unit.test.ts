/**
 * Issue 25: secrets are never logged. redactUrl keeps where a service connects and drops the
 * password; the loggers redact fields that are secrets by name, whatever the call site passes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { loggerOptions, redactUrl, REDACTED } from '#shared/log/index.js';

describe('redactUrl', () => {
  it('replaces the userinfo password and keeps the rest', () => {
    assert.equal(
      redactUrl('postgres://ledger:s3cret@db.internal:5432/ledger'),
      'postgres://ledger:***@db.internal:5432/ledger',
    );
    assert.doesNotMatch(redactUrl('postgresql://u:p%40ss@h/d?sslmode=require'), /p%40ss|p@ss/);
  });
  it('redacts credential query parameters (libpq password=, tokens)', () => {
    const r = redactUrl('postgres://h/d?user=u&password=s3cret&sslmode=require');
    assert.doesNotMatch(r, /s3cret/);
    assert.match(r, /password=\*\*\*&sslmode=require/);
    assert.match(r, /user=u/);
  });
  it('handles comma-separated server lists (NATS_URL) and leaves URLs without secrets as given', () => {
    const r = redactUrl('nats://a:pw1@n1:4222, nats://n2:4222,nats://b:pw2@n3:4222');
    assert.doesNotMatch(r, /pw1|pw2/);
    assert.match(r, /nats:\/\/n2:4222/);
    assert.equal(redactUrl('sqlite:./data/ledger.db'), 'sqlite:./data/ledger.db');
    assert.equal(redactUrl('nats://127.0.0.1:4222'), 'nats://127.0.0.1:4222');
  });
  it('masks userinfo in what is not a URL to the parser', () => {
    assert.doesNotMatch(redactUrl('postgres://u:s3cret@[bad'), /s3cret/);
  });
});

describe('the service logger', () => {
  it('redacts secret-named fields at the top level, one level down and in request headers', () => {
    let out = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        out += chunk.toString();
        done();
      },
    });
    const log = pino(loggerOptions('test'), sink);
    log.info({ password: 's3cret-1', cfg: { LICENSE_KEY: 's3cret-2', token: 's3cret-3' } }, 'config');
    log.info({ req: { headers: { authorization: 'Bearer s3cret-4', 'x-license-key': 's3cret-5' } } }, 'request');
    log.info({ license_key: 's3cret-6', secret: 's3cret-7' }, 'more');
    assert.doesNotMatch(out, /s3cret/);
    assert.equal(out.split(REDACTED).length - 1, 7);
    assert.match(out, /"service":"test"/);
  });
});
