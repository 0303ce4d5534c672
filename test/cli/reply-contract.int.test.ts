import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { PLUGIN_BIN } from '../support/plugin.js';

const API = '/apis/operator.metalbear.co/v1';

/**
 * A gateway of another version on 127.0.0.1: each route answers what the test put there (JSON,
 * or text as it is). Not the real gateway on purpose: its bodies match the contract, and this
 * is about the plugin meeting one that does not.
 */
function gatewayAnswering(routes: Record<string, unknown>): Promise<Server> {
  const server = createServer((req, res) => {
    const key = `${req.method} ${(req.url ?? '').split('?')[0]}`;
    req.resume();
    if (!(key in routes)) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    const body = routes[key];
    res.writeHead(200, { 'content-type': typeof body === 'string' ? 'text/html' : 'application/json' });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function plugin(url: string, args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const env = { ...process.env, MIRRORD_GATEWAY: url, MIRRORD_TOKEN: 't' };
  try {
    const r = await promisify(execFile)(process.execPath, [PLUGIN_BIN, ...args], { env, encoding: 'utf8' });
    return { status: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { status: x.code ?? 1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
  }
}

/** The operator object with its license lacking a name (as a gateway that renamed the field would send it). */
const operatorWithoutLicenseName = {
  apiVersion: 'operator.metalbear.co/v1',
  kind: 'MirrordOperator',
  metadata: { name: 'operator' },
  spec: {
    operator_version: '3.250.0',
    default_namespace: 'default',
    supported_features: [],
    features: [],
    copy_target_enabled: true,
    protocol_version: '1.25.0',
    license: {
      licence_name: 'Acme',
      organization: 'Acme',
      expire_at: '2099-12-31',
      fingerprint: '',
      subscription_id: null,
    },
  },
  status: { sessions: [], observed_at: '2026-12-08T00:00:00Z', statistics: { dau: 0, mau: 0 }, copy_targets: [] },
};

describe('the plugin checks every gateway reply against its contract', () => {
  let server: Server;
  let url: string;
  before(async () => {
    server = await gatewayAnswering({
      [`GET ${API}/mirrordoperators/operator`]: operatorWithoutLicenseName,
      [`POST ${API}/mirrordoperators/operator/jira-retry`]: { delivered: '2', failed: 0, errors: [] },
      [`DELETE ${API}/sessions`]: '<html>a proxy in the way</html>',
      [`GET ${API}/events`]: { apiVersion: 'v1', kind: 'EventList', metadata: {}, items: [{ id: 'x', type: 'T' }] },
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('names the field a reply lacks, in one line, with exit 1 (operator status and license status)', async () => {
    for (const args of [
      ['operator', 'status'],
      ['license', 'status'],
    ]) {
      // when the gateway's operator object has no spec.license.name
      const r = await plugin(url, args);
      // then one line names the route and the field, and nothing is printed as if it were fine
      assert.equal(r.status, 1, args.join(' '));
      assert.equal(r.stdout, '');
      assert.equal(
        r.stderr,
        `error: the gateway at ${url} answered GET ${API}/mirrordoperators/operator with an unexpected body (spec.license.name: Invalid input: expected string, received undefined); is it the version of this plugin (MIRRORD_GATEWAY)?\n`,
      );
    }
  });

  it('names a field of the wrong type, an item of a list, and a body that is not JSON', async () => {
    // when jira-retry counts as a string, an event lacks its fields, a proxy answers HTML
    const jira = await plugin(url, ['jira', 'retry']);
    const audit = await plugin(url, ['audit']);
    const kill = await plugin(url, ['operator', 'session', 'kill-all']);
    // then each is one line naming where, never a stack trace
    assert.match(
      jira.stderr,
      /^error: .* POST \S+\/jira-retry with an unexpected body \(delivered: [^\n]*number[^\n]*\n$/,
    );
    assert.match(
      audit.stderr,
      /^error: .* GET \S+\/events with an unexpected body \(items\[0\]\.session_id: [^\n]*\n$/,
    );
    assert.match(kill.stderr, /^error: .* DELETE \S+\/sessions with an unexpected body \(body: [^\n]*object[^\n]*\n$/);
    for (const r of [jira, audit, kill]) {
      assert.equal(r.status, 1);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  });
});
