import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadLicenseServerConfig } from '../../services/license-server/src/config.js';

/** The license server's reports key, as the seeds' values.yaml sets it (`license.key: secret`). */
describe('license server configuration: LICENSE_KEY', () => {
  const env = (key: string) => ({
    NATS_URL: 'nats://127.0.0.1:4222',
    OPERATOR_LICENSE_FILE: '/l.yaml',
    LICENSE_KEY: key,
  });

  it("given the seeds' `secret`, when the server loads its configuration, then it is accepted", () => {
    assert.equal(loadLicenseServerConfig(env('secret')).LICENSE_KEY, 'secret');
  });

  it('given an empty or blank key, when loaded, then it is refused naming the variable and the fix', () => {
    assert.throws(
      () => loadLicenseServerConfig(env('  ')),
      /LICENSE_KEY: is empty; set it to a random string or a UUID/,
    );
  });
});
