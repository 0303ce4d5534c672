/**
 * The gateway, in this process, as the aggregated `operator.metalbear.co/v1` of a real
 * kube-apiserver (issue 26): its serving certificate, the APIService with that CA as `caBundle`,
 * the front proxy's CA trusted for X-Remote-* headers, and kubectl against the apiserver. Each
 * test passes the dependencies it drives (a stub ledger by default: no NATS).
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { createCa, issue } from '#shared/pki/index.js';
import { silentLogger } from '../support/log.js';
import type { GatewayDeps } from '../../services/gateway/src/adapters/http/route-kit.js';
import { buildServer } from '../../services/gateway/src/adapters/http/server.js';
import { FrontProxyAuthenticator } from '../../services/gateway/src/adapters/auth/front-proxy-authenticator.js';
import {
  aggregatedService,
  startKubeApiServer,
  type KubeApiServer,
  type KubeApiServerOptions,
} from '../support/kube-apiserver.js';
import { eventually } from '../support/eventually.js';

export const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';
export const GROUP = 'operator.metalbear.co';
const exec = promisify(execFile);

export interface Run {
  code: number;
  out: string;
  err: string;
}

export interface RealGateway extends AsyncDisposable {
  kube: KubeApiServer;
  gateway: FastifyInstance;
  /** kubectl against the real apiserver, as a kubeconfig context (default admin). */
  kubectl(args: string[], context?: string, stdin?: string): Promise<Run>;
  /** kubectl that must succeed; its stdout. */
  ok(args: string[], context?: string, stdin?: string): Promise<string>;
}

/** The stub ledger of a gateway without NATS: no sessions, no events; commands are taken. */
const emptyLedger = {
  command: async () => ({ events: [] }),
  sessions: async () => ({ now: Date.now(), sessions: [] }),
  statistics: async () => ({ dau: 0, mau: 0 }),
  seats: async () => 0,
  session: async () => ({ now: Date.now(), session: null }),
  events: async () => ({ events: [] }),
};

export async function startRealGateway(
  opts: KubeApiServerOptions,
  deps: (kube: KubeApiServer) => Partial<GatewayDeps> = () => ({}),
): Promise<RealGateway> {
  const kube = await startKubeApiServer(opts);
  const kubectl = async (args: string[], context = 'admin', stdin?: string): Promise<Run> => {
    try {
      const p = exec(KUBECTL, ['--kubeconfig', kube.kubeconfig, '--context', context, ...args], { timeout: 60_000 });
      p.child.stdin!.end(stdin);
      const r = await p;
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof x.code === 'number' ? x.code : 1, out: x.stdout ?? '', err: x.stderr ?? String(e) };
    }
  };
  const ok = async (args: string[], context = 'admin', stdin?: string): Promise<string> => {
    const r = await kubectl(args, context, stdin);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.err}`);
    return r.out;
  };
  let gateway: FastifyInstance | undefined;
  try {
    const ca = await createCa('mirrord-gateway-test-ca');
    const serving = await issue(ca, {
      commonName: 'mirrord-gateway.mirrord.svc',
      dnsNames: ['mirrord-gateway.mirrord.svc'],
      usage: 'server',
    });
    gateway = await buildServer({
      log: silentLogger(),
      authn: new FrontProxyAuthenticator(
        { authenticate: async () => undefined },
        new X509Certificate(kube.frontProxy.caPem).fingerprint256,
        [kube.frontProxy.clientCommonName],
      ),
      authz: { authorize: async () => ({ allowed: true }) },
      agents: { copyTargets: async () => [] },
      ledger: emptyLedger,
      version: '0.0.0-test',
      license: undefined,
      defaultNamespace: 'default',
      activityIntervalMs: 1000,
      ready: async () => true,
      https: { key: serving.keyPem, cert: serving.certPem, ca: [kube.frontProxy.caPem] },
      ...deps(kube),
    } as unknown as GatewayDeps);
    await gateway.listen({ port: 0, host: '127.0.0.1' });
    const port = (gateway.server.address() as { port: number }).port;
    const items = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'mirrord' } },
      aggregatedService('mirrord-gateway', 'mirrord', port),
      {
        apiVersion: 'apiregistration.k8s.io/v1',
        kind: 'APIService',
        metadata: { name: `v1.${GROUP}` },
        spec: {
          group: GROUP,
          version: 'v1',
          groupPriorityMinimum: 1000,
          versionPriority: 15,
          caBundle: Buffer.from(ca.certPem).toString('base64'),
          service: { name: 'mirrord-gateway', namespace: 'mirrord', port },
        },
      },
    ];
    await ok(['apply', '-f', '-'], 'admin', JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
    await eventually(
      'the APIService is Available',
      async () =>
        (await ok([
          'get',
          'apiservice',
          `v1.${GROUP}`,
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Available")].status}',
        ])) === 'True',
      60_000,
      250,
    );
  } catch (e) {
    await gateway?.close();
    await kube[Symbol.asyncDispose]();
    throw e;
  }
  const gw = gateway;
  return {
    kube,
    gateway: gw,
    kubectl,
    ok,
    async [Symbol.asyncDispose]() {
      await gw.close();
      await kube[Symbol.asyncDispose]();
    },
  };
}
