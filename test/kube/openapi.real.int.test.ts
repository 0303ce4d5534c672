/**
 * Issue 26 (7), "no OpenAPI": the gateway serves the OpenAPI documents kube-apiserver's
 * aggregator downloads for `operator.metalbear.co` (`/openapi/v2`, `/openapi/v3` and its
 * group-version document), so the real apiserver stops logging a failure for our APIService every
 * minute, and `kubectl explain` finds our kinds through the aggregation layer (v3, and v2 merged).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { eventually } from '../support/eventually.js';
import { GROUP, startRealGateway, type RealGateway } from './real-gateway.js';

/**
 * What the aggregator logs when it cannot load our spec (v2 or v3 controller): `loading OpenAPI
 * spec for "v1.operator.metalbear.co" failed …`, then `… action for item …: Rate Limited Requeue`.
 */
const failure = (line: string): boolean =>
  line.includes('operator.metalbear.co') && /openapi/i.test(line) && /fail|error|requeue/i.test(line);

describe('the gateway serves OpenAPI through the real aggregator', { timeout: 300_000 }, () => {
  let g: RealGateway;
  /** The OpenAPI documents the aggregator fetched from the gateway (it comes as system:aggregator). */
  const fetched: string[] = [];

  before(async () => {
    g = await startRealGateway({ users: [{ name: 'admin', groups: ['system:masters'] }] });
    g.gateway.server.on('request', (req: { url?: string; headers: Record<string, unknown> }) => {
      if (req.url?.startsWith('/openapi/') && req.headers['x-remote-user'] === 'system:aggregator')
        fetched.push(req.url.split('?')[0]!);
    });
  });
  after(async () => {
    await g?.[Symbol.asyncDispose]();
  });

  it('kubectl explain shows our kinds and fields, described (OpenAPI v3)', async () => {
    // given the APIService is Available
    // when kubectl explains a session's fields through the real apiserver
    const out = await eventually(
      'kubectl explain sessions.operator.metalbear.co.spec.session succeeds',
      async () => {
        const r = await g.kubectl(['explain', `sessions.${GROUP}.spec.session`]);
        if (r.code !== 0) throw new Error(r.err);
        return r.out;
      },
      60_000,
      500,
    );
    // then it names the kind and the fields with their descriptions
    assert.match(out, /KIND:\s+Session/);
    assert.match(out, /duration_secs\s+<integer>/);
    assert.match(out, /id\s+<string>.*\n\s+Session id: 16 upper-case hex digits/);
    const copy = await g.ok(['explain', `copytargets.${GROUP}.spec`]);
    assert.match(copy, /scale_down\s+<boolean>.*\n\s+Scale the original Deployment to 0/);
    assert.match(copy, /target\s+<Object>/);
  });

  it('kubectl get --raw /openapi/v3/apis/operator.metalbear.co/v1 is our document, every kind with its GVK', async () => {
    const doc = JSON.parse(await g.ok(['get', '--raw', `/openapi/v3/apis/${GROUP}/v1`])) as {
      openapi: string;
      paths: Record<string, unknown>;
      components: { schemas: Record<string, { 'x-kubernetes-group-version-kind'?: { kind: string }[] }> };
    };
    assert.equal(doc.openapi, '3.0.0');
    const kinds = Object.values(doc.components.schemas).flatMap(
      (s) => s['x-kubernetes-group-version-kind']?.map((k) => k.kind) ?? [],
    );
    for (const k of ['Session', 'SessionList', 'CopyTarget', 'MirrordOperator', 'Target'])
      assert.ok(kinds.includes(k), `${k} in ${kinds.join(', ')}`);
    assert.ok(doc.paths[`/apis/${GROUP}/v1/namespaces/{namespace}/sessions/{name}`]);
  });

  it('the v2 document is merged (explain in v2 form) and the apiserver logs no OpenAPI failure for our APIService', async () => {
    // when the aggregator has downloaded both documents and kubectl reads the merged v2 spec
    const v2 = await eventually(
      'the aggregator fetched /openapi/v2 and /openapi/v3, and v2 explain knows MirrordOperator',
      async () => {
        if (!fetched.includes('/openapi/v2') || !fetched.includes('/openapi/v3')) return false;
        const r = await g.kubectl(['explain', `mirrordoperators.${GROUP}`, '--output=plaintext-openapiv2']);
        if (r.code !== 0) throw new Error(r.err);
        return r.out;
      },
      90_000,
      500,
    );
    assert.match(v2, /KIND:\s+MirrordOperator/);
    // then the apiserver's log has no failure for our APIService
    const log = readFileSync(g.kube.logs['kube-apiserver'], 'utf8');
    const failures = log.split('\n').filter(failure);
    assert.deepEqual(failures, []);
    assert.match(log, /Starting OpenAPI AggregationController/, 'the aggregator ran');
  });
});
