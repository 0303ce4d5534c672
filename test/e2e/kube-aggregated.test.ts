import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, issue } from '#shared/pki/index.js';
import { SessionClient, startSystem, type System } from '../support/system.js';
import {
  GATEWAY_SERVICE_DNS,
  runKubectl,
  startAgentManager,
  startPolicy,
  startTestCluster,
  type TestCluster,
} from '../support/cluster.js';
import type { ServiceProcess } from '../support/service-process.js';
import { tempDir } from '../support/tmp.js';

/**
 * The gateway as an aggregated API server behind the real kube-apiserver: `kubectl get/delete
 * sessions.operator.metalbear.co` with plain RBAC, the CLI's connect through `/proxy/`. Needs a
 * cluster that can reach this machine's gateway, so not against E2E_KUBECONFIG.
 */
describe(
  'aggregated API: kubectl get/delete sessions.operator.metalbear.co',
  { skip: process.env.E2E_KUBECONFIG ? 'the gateway must be reachable from the cluster' : false },
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
      // Valid for the name the aggregation layer verifies (the APIService's Service) and for
      // the tests' own direct connections.
      const serving = await issue(ca, {
        commonName: GATEWAY_SERVICE_DNS,
        dnsNames: [GATEWAY_SERVICE_DNS],
        ips: ['127.0.0.1'],
        usage: 'server',
      });
      const kube = cluster.kube!;
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
        // What kube-system/extension-apiserver-authentication publishes on a real cluster.
        GATEWAY_REQUESTHEADER_CA_FILE: f('front-ca.crt', kube.frontProxy.caPem),
        GATEWAY_REQUESTHEADER_ALLOWED_NAMES: kube.frontProxy.clientCommonName,
        GATEWAY_CLIENT_CA_FILE: f('client-ca.crt', kube.caPem),
      });
      [am, policy] = await Promise.all([startAgentManager(sys.env, cluster), startPolicy(sys.env, cluster)]);
      await cluster.aggregate(Number(new URL(sys.url).port), ca.certPem);
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

      // kubectl waits for each deletion by watching (the roles allow watch).
      const del = await kubectl('jim', 'delete', 'sessions.operator.metalbear.co', '--all', '-n', 'default');
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
      const via = { via: cluster.kube!.url, ca: cluster.kube!.caPem, target: 'deployment.my-deployment' };
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
      // The cluster CA's certificate for jim (CN jim, O developers), as kubeadm issues users'.
      const jim = cluster.kube!.users.jim!;
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
