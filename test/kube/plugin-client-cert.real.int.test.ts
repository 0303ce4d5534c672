/**
 * Issue 26 (7), "client-certificate users": the plugin authenticates as the kubeconfig user does
 * with kubectl. A user with `client-certificate-data` / `client-key-data` and no token (kind's
 * default admin) reaches the gateway through the real aggregation layer as that user, not as
 * `system:anonymous`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AccessRequest, Identity } from '../../services/gateway/src/domain/interfaces.js';
import type { GatewayDeps } from '../../services/gateway/src/adapters/http/route-kit.js';
import type { Target } from '#shared/targets/index.js';
import { eventually } from '../support/eventually.js';
import { startRealGateway, type RealGateway } from './real-gateway.js';
import { PLUGIN_BIN } from '../support/plugin.js';

const BIN = PLUGIN_BIN;

describe(
  'the plugin with a client-certificate kubeconfig user, through the real aggregator',
  { timeout: 300_000 },
  () => {
    let g: RealGateway;
    let certDir: string;
    /** Who the gateway saw (the identity the apiserver forwarded in X-Remote-User / X-Remote-Group), and for what. */
    const seen: (Identity & { verb: string })[] = [];

    /** `kubectl mirrord …` with only the test cluster's kubeconfig (no MIRRORD_GATEWAY / MIRRORD_TOKEN). */
    const plugin = async (args: string[]): Promise<{ code: number; out: string; err: string }> => {
      const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: g.kube.kubeconfig, MIRRORD_CERT_DIR: certDir };
      delete env.MIRRORD_GATEWAY;
      delete env.MIRRORD_TOKEN;
      try {
        const r = await promisify(execFile)(process.execPath, [BIN, ...args], { env, timeout: 30_000 });
        return { code: 0, out: r.stdout, err: r.stderr };
      } catch (e) {
        const x = e as { code?: number; stdout?: string; stderr?: string };
        return { code: typeof x.code === 'number' ? x.code : 1, out: x.stdout ?? '', err: x.stderr ?? String(e) };
      }
    };

    before(async () => {
      certDir = mkdtempSync(join(tmpdir(), 'mirrord-plugin-certs-'));
      g = await startRealGateway(
        {
          users: [
            { name: 'admin', groups: ['system:masters'] },
            { name: 'jim', groups: ['developers'] },
          ],
        },
        () =>
          ({
            authz: {
              authorize: async (who: Identity, r: AccessRequest) => {
                seen.push({ ...who, verb: r.verb });
                return { allowed: true };
              },
            },
            // Sessions: any target resolves; the policy refuses every start (no agents here).
            targets: {
              resolve: async (_who: Identity, namespace: string, target: Target) => ({
                target,
                path: 'targetless',
                namespace,
              }),
            },
            policy: { evaluateStart: async () => ({ allowed: false, message: 'refused by the test policy' }) },
          }) as unknown as Partial<GatewayDeps>,
      );
    });
    after(async () => {
      await g?.[Symbol.asyncDispose]();
      rmSync(certDir, { recursive: true, force: true });
    });

    it('kubectl mirrord operator status as admin-cert (certificate, no token) succeeds as admin', async () => {
      // given the kubeconfig context admin-cert: client-certificate-data and client-key-data only
      // when the plugin asks for the operator status with that context
      const r = await plugin(['--context', 'admin-cert', 'operator', 'status']);
      // then the apiserver authenticated the certificate and forwarded admin to the gateway
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /Operator/);
      const who = await eventually('the gateway authorised the request', () => seen.at(-1), 5_000);
      assert.equal(who.user, 'admin');
      assert.ok(who.groups.includes('system:masters'), JSON.stringify(who));
      assert.ok(!seen.some((s) => s.user === 'system:anonymous'), JSON.stringify(seen));
    });

    it('a certificate user without RBAC is refused as themselves (403 naming jim, shown once), not as anonymous', async () => {
      const r = await plugin(['--context', 'jim-cert', 'operator', 'status']);
      assert.equal(r.code, 1, r.out);
      assert.match(r.err, /User "jim" cannot get resource "mirrordoperators"/);
      assert.doesNotMatch(r.err, /system:anonymous/);
      assert.equal(r.err.trim().split('\n').length, 1, r.err);
    });

    it('kubectl mirrord session start as admin-cert: the WebSocket through the aggregator carries the certificate too', async () => {
      const r = await plugin(['--context', 'admin-cert', 'session', 'start', '--target', 'targetless']);
      assert.equal(r.code, 1, r.out);
      assert.match(r.err, /refused by the test policy/);
      assert.doesNotMatch(r.err, /system:anonymous|forbidden/i);
      assert.ok(
        seen.some((s) => s.user === 'admin' && s.verb === 'proxy'),
        JSON.stringify(seen),
      );
    });

    it('an unknown --context is refused naming the flag and the contexts there are', async () => {
      const r = await plugin(['--context', 'nobody', 'operator', 'status']);
      assert.equal(r.code, 1);
      assert.match(
        r.err,
        /--context: no context "nobody" in the kubeconfig; pick one of admin, admin-cert, jim, jim-cert/,
      );
    });
  },
);
