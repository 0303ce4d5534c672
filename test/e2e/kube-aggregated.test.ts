import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, issue } from '#shared/pki/index.js';
import { SessionClient, startSystem, type System } from '../support/system.js';
import { runKubectl, startAgentManager, startPolicy, startTestCluster, type TestCluster } from '../support/cluster.js';
import type { ServiceProcess } from '../support/service-process.js';
import { tempDir } from '../support/tmp.js';

/**
 * The gateway as an aggregated API server behind the cluster: `kubectl get/delete
 * sessions.operator.metalbear.co` with plain RBAC. Needs a cluster that can reach this
 * machine's gateway, so it runs against the stand-in only.
 */
describe(
  'aggregated API: kubectl get/delete sessions.operator.metalbear.co',
  { skip: process.env.E2E_KUBECONFIG ? 'needs the stand-in (the gateway must be reachable from the cluster)' : false },
  () => {
    let cluster: TestCluster;
    let sys: System;
    let am: ServiceProcess;
    let policy: ServiceProcess;
    let servingCa: string;
    /** GET on the gateway with a TLS client certificate (no bearer token). */
    const getWithCert = async (
      path: string,
      cert: { certPem: string; keyPem: string },
      headers: Record<string, string> = {},
    ) => {
      const { request } = await import('node:https');
      return new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
        const req = request(
          `${sys.url}${path}`,
          { ca: servingCa, cert: cert.certPem, key: cert.keyPem, headers },
          (res) => {
            let b = '';
            res.on('data', (d: Buffer) => (b += d.toString()));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, body: JSON.parse(b) as Record<string, unknown> }),
            );
          },
        );
        req.on('error', reject);
        req.end();
      });
    };
    const kubectl = (context: string, ...args: string[]) => runKubectl(cluster, context, ...args);

    before(async () => {
      cluster = await startTestCluster();
      const dir = tempDir('aggregated');
      const ca = await createCa('mirrord-operator-ca');
      const serving = await issue(ca, { commonName: 'mirrord-gateway', ips: ['127.0.0.1'], usage: 'server' });
      const frontCa = await createCa('front-proxy-ca');
      const front = await issue(frontCa, { commonName: 'front-proxy-client', usage: 'client' });
      const f = (name: string, text: string) => {
        writeFileSync(join(dir, name), text);
        return join(dir, name);
      };
      servingCa = ca.certPem;
      sys = await startSystem({
        GATEWAY_AUTH: 'kubernetes',
        KUBECONFIG: cluster.kubeconfig,
        GATEWAY_KUBE_CONTEXT: 'mirrord-operator',
        GATEWAY_TLS_CERT_FILE: f('tls.crt', serving.certPem),
        GATEWAY_TLS_KEY_FILE: f('tls.key', serving.keyPem),
        GATEWAY_REQUESTHEADER_CA_FILE: f('front-ca.crt', frontCa.certPem),
        GATEWAY_REQUESTHEADER_ALLOWED_NAMES: 'front-proxy-client',
        GATEWAY_CLIENT_CA_FILE: f('client-ca.crt', cluster.standIn!.ca.certPem),
      });
      am = await startAgentManager(sys.env, cluster);
      policy = await startPolicy(sys.env, cluster);
      cluster.standIn!.setAggregate('operator.metalbear.co', {
        url: sys.url,
        ca: ca.certPem,
        cert: front.certPem,
        key: front.keyPem,
      });
      const r = await kubectl('admin', 'apply', '-f', 'deploy/apiservice.yaml');
      assert.equal(r.code, 0, r.err);
    });
    after(async () => {
      await policy?.stop();
      await am?.stop();
      await sys?.stop();
      await cluster?.stop();
    });

    it('X-Remote-User is not believed without the front proxy certificate', async () => {
      const res = await fetch(`${sys.url.replace('https', 'http')}/apis/operator.metalbear.co/v1/sessions`).catch(
        () => undefined,
      );
      // Plain HTTP is not served at all; over TLS without a client certificate the header is ignored.
      assert.ok(res === undefined || res.status >= 400);
      const ws = await SessionClient.connect(sys, {
        token: 'nobody',
        headers: { 'x-remote-user': 'jim' },
        ca: servingCa,
        target: 'deployment.my-deployment',
      });
      assert.equal(ws.status, 401);
    });

    it('lists live sessions through the cluster, and deletes them all as an allowed user', async () => {
      const a = await SessionClient.connect(sys, {
        token: 'jim-token',
        target: 'deployment.my-deployment',
        ca: servingCa,
      });
      const b = await SessionClient.connect(sys, { token: 'jim-token', target: 'pod.my-pod', ca: servingCa });
      const ids = [await a.client!.sessionId(), await b.client!.sessionId()];

      const got = await kubectl('jim', 'get', 'sessions.operator.metalbear.co', '-A');
      assert.equal(got.code, 0, got.err);
      assert.match(got.out, /NAME\s+TARGET\s+USER\s+PORTS\s+DURATION/);
      for (const id of ids) assert.match(got.out, new RegExp(id));
      assert.match(got.out, /deployment\/my-deployment/);

      // bob has no rule on sessions: the cluster's RBAC refuses before the gateway is asked.
      const bob = await kubectl('bob', 'delete', 'sessions.operator.metalbear.co', '--all', '-n', 'default');
      assert.notEqual(bob.code, 0);
      assert.match(bob.err, /User "bob" cannot list resource "sessions" in API group "operator.metalbear.co"/);

      // --wait=false: the roles now allow watch, so kubectl waits for each deletion by watching, and
      // the stand-in's APIService proxy sends no headers until the first byte (a watch with nothing
      // to report hangs). The wait is tested on the real apiserver (gateway-conventions.real.int.test.ts).
      const del = await kubectl(
        'jim',
        'delete',
        'sessions.operator.metalbear.co',
        '--all',
        '-n',
        'default',
        '--wait=false',
      );
      assert.equal(del.code, 0, del.err);
      for (const id of ids) assert.match(del.out, new RegExp(`session.* "${id}" deleted`));
      const after = await kubectl('jim', 'get', 'sessions.operator.metalbear.co', '-A');
      assert.match(after.out + after.err, /No resources found/);
      const ev = await kubectl('jim', 'get', '--raw', `/apis/operator.metalbear.co/v1/sessions/${ids[0]}/events`);
      const ended = (
        JSON.parse(ev.out) as { items: Array<{ type: string; data: Record<string, unknown> }> }
      ).items.find((e) => e.type === 'SessionEnded');
      assert.equal(ended?.data.killed_by, 'jim');
    });
    it("carries the mirrord CLI's connect through kube-apiserver: /proxy/ authorised as the proxy verb, upgraded, relayed", async () => {
      const via = { via: cluster.standIn!.url, ca: cluster.standIn!.ca.certPem, target: 'deployment.my-deployment' };
      const r = await SessionClient.connect(sys, { token: 'jim-token', ...via });
      assert.ok(r.client, JSON.stringify(r.body));
      assert.equal(r.client.ws.protocol, 'v4.channel.k8s.io');
      assert.deepEqual(await r.client.subscribe('mirror', 8088), { ok: true });
      const one = await kubectl('jim', 'get', '--raw', `/apis/operator.metalbear.co/v1/sessions/${r.client.id}`);
      assert.equal(JSON.parse(one.out).spec.session.user.split('/')[1].split('@')[0], 'jim');
      await r.client.close();
      // bob's mirrord Role is namespaced (default): in staging the cluster refuses the upgrade
      // before the gateway hears of it.
      const bob = await SessionClient.connect(sys, { token: 'bob-token', ...via, namespace: 'staging' });
      assert.equal(bob.status, 403);
      assert.match(String(bob.body!.message), /cannot proxy resource "targets"/);
    });
    it("authenticates users' client certificates from the cluster's client CA (CN user, O groups), and never as the front proxy", async () => {
      const jim = await issue(cluster.standIn!.ca, {
        commonName: 'jim',
        organizations: ['developers'],
        usage: 'client',
      });
      const targets = (r: { body: Record<string, unknown> }) =>
        (r.body.items as Array<{ metadata: { name: string } }>).map((t) => t.metadata.name);
      const asJim = await getWithCert('/apis/operator.metalbear.co/v1/namespaces/default/targets', jim);
      assert.equal(asJim.status, 200, JSON.stringify(asJim.body));
      assert.ok(targets(asJim).includes('deployment.my-deployment'));
      // X-Remote-User from a user's certificate is not an identity: still jim, not ann (who sees nothing).
      const spoof = await getWithCert('/apis/operator.metalbear.co/v1/namespaces/default/targets', jim, {
        'x-remote-user': 'ann',
      });
      assert.deepEqual(targets(spoof), targets(asJim));
      const stranger = await issue(await createCa('elsewhere'), { commonName: 'jim', usage: 'client' });
      assert.equal((await getWithCert('/apis/operator.metalbear.co/v1/sessions', stranger)).status, 401);
    });
  },
);
