/**
 * `npm run dev:cluster -- [--seed DIR]… [--kubeconfig FILE] [--aggregate URL]`: a real Kubernetes
 * control plane for the local demo (kube-apiserver, etcd and kube-controller-manager built by
 * `npm run k8s:build`, built here first when missing), the node simulator for what nodes do,
 * deploy/'s namespace, CRDs and RBAC and the YAML in each DIR (default test/kube/seed) applied,
 * writing a kubeconfig whose contexts are test/kube/seed/tokens.csv's users.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { createCa, issue } from '#shared/pki/index.js';
import { KUBE_BUILD_COMMAND, kubeBinaries } from '../../scripts/kube-bin.js';
import { GATEWAY_SERVICE_DNS, startTestCluster } from '../support/cluster.js';
import { SEED_TOKENS, kubeconfigFor, loadTokens } from './seed-loader.js';

const cmd = new Command('dev-cluster')
  .option(
    '--seed <dir>',
    'a directory of YAML to load (repeatable)',
    (v: string, acc: string[]) => [...acc, v],
    [] as string[],
  )
  .option('--kubeconfig <file>', 'where to write the kubeconfig', './data/dev-cluster.kubeconfig')
  .option('--context <user>', 'current context', 'jim')
  .option('--server <url>', 'only write a kubeconfig for this (real) cluster, e.g. kind, with the token users')
  .option('--ca <file>', "with --server: the cluster's CA certificate (PEM)")
  .option(
    '--aggregate <url>',
    'serve operator.metalbear.co from the gateway at this https URL through the aggregation layer (an APIService with a caBundle), writing its TLS files to --tls-dir',
  )
  .option(
    '--tls-dir <dir>',
    "where --aggregate writes the gateway's serving certificate and the cluster's front-proxy and client CAs",
    './data/demo-tls',
  )
  .parse();
const o = cmd.opts<{
  seed: string[];
  kubeconfig: string;
  context: string;
  server?: string;
  ca?: string;
  aggregate?: string;
  tlsDir: string;
}>();
const say = (msg: string, extra: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ level: 'info', msg, ...extra })}\n`);

if (o.server) {
  writeFileSync(
    o.kubeconfig,
    kubeconfigFor(o.server, loadTokens(SEED_TOKENS), o.context, o.ca ? { ca: readFileSync(o.ca, 'utf8') } : {}),
  );
  say(`wrote ${o.kubeconfig}`);
  process.exit(0);
}

// A fresh clone has no binaries yet: build them (minutes, with progress) before the first start.
if (kubeBinaries().missing.length) {
  say(`the Kubernetes binaries are not built yet: running \`${KUBE_BUILD_COMMAND}\` (minutes the first time)`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/kube-bin.ts'], { stdio: 'inherit' });
  if (r.status !== 0) {
    say(`\`${KUBE_BUILD_COMMAND}\` failed (exit ${r.status}); the demo cluster cannot start`);
    process.exit(1);
  }
}
say('starting the demo cluster: etcd, kube-apiserver, kube-controller-manager, two simulated nodes');
const cluster = await startTestCluster({ demoTraffic: true, ...(o.seed.length ? { seed: o.seed } : {}) });
const kube = cluster.kube!;
copyFileSync(cluster.kubeconfig, o.kubeconfig);
if (o.aggregate) {
  // What a platform team's install sets up for an aggregated API server: its serving
  // certificate (for the APIService's Service name), the cluster's front-proxy CA it trusts for
  // X-Remote-User and its client CA (both from kube-system/extension-apiserver-authentication),
  // and the APIService with the serving CA as caBundle.
  const host = new URL(o.aggregate).hostname;
  const ca = await createCa('mirrord-gateway-demo-ca');
  const serving = await issue(ca, {
    commonName: GATEWAY_SERVICE_DNS,
    dnsNames: [GATEWAY_SERVICE_DNS, ...(/^[\d.]+$/.test(host) ? [] : [host])],
    ips: /^[\d.]+$/.test(host) ? [host] : [],
    usage: 'server',
  });
  mkdirSync(o.tlsDir, { recursive: true });
  const files = {
    'tls.crt': serving.certPem,
    'tls.key': serving.keyPem,
    'ca.crt': ca.certPem,
    'front-ca.crt': kube.frontProxy.caPem,
    'front-proxy-client-name': kube.frontProxy.clientCommonName,
    'client-ca.crt': kube.caPem,
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(o.tlsDir, name), text);
  // The gateway starts after this: the APIService becomes Available once it answers.
  await cluster.aggregate(Number(new URL(o.aggregate).port || 443), ca.certPem, { wait: false });
}
say('dev cluster ready', {
  url: kube.url,
  version: kube.version,
  kubeconfig: o.kubeconfig,
  contexts: [...loadTokens(SEED_TOKENS).values()].map((u) => u.username.replace(/^system:serviceaccount:[^:]+:/, '')),
  logs: kube.dir,
});
const stop = () => void cluster.stop().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
