/**
 * `npm run dev:cluster -- [--seed DIR]… [--tokens FILE] [--kubeconfig FILE]`: the Kubernetes
 * stand-in for the local demo, seeded with deploy/'s namespace and RBAC and the YAML in each
 * DIR (default test/kube/seed), writing a kubeconfig whose contexts are the token file's users.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, issue } from '#shared/pki/index.js';
import { Command } from 'commander';
import { startKubeStandIn } from './server.js';
import {
  APISERVICE,
  DEPLOY_SEED,
  SEED_TOKENS,
  WORKLOAD_SEED,
  kubeconfigFor,
  loadTokens,
  loadYaml,
} from './seed-loader.js';

const cmd = new Command('dev-cluster')
  .option(
    '--seed <dir>',
    'a directory of YAML to load (repeatable)',
    (v: string, acc: string[]) => [...acc, v],
    [] as string[],
  )
  .option('--tokens <file>', 'token file (kube-apiserver --token-auth-file format)', SEED_TOKENS)
  .option('--kubeconfig <file>', 'where to write the kubeconfig', './data/dev-cluster.kubeconfig')
  .option('--context <user>', 'current context', 'jim')
  .option('--server <url>', 'only write a kubeconfig for this (real) cluster, e.g. kind, with the token users')
  .option('--ca <file>', "with --server: the cluster's CA certificate (PEM)")
  .option(
    '--aggregate <url>',
    'serve operator.metalbear.co from the gateway at this https URL (an APIService, as kube-apiserver does), writing its TLS files to --tls-dir',
  )
  .option(
    '--tls-dir <dir>',
    "where --aggregate writes the gateway's serving and front-proxy certificates",
    './data/demo-tls',
  )
  .parse();
const o = cmd.opts<{
  seed: string[];
  tokens: string;
  kubeconfig: string;
  context: string;
  server?: string;
  ca?: string;
  aggregate?: string;
  tlsDir: string;
}>();
const tokens = loadTokens(o.tokens);
if (o.server) {
  writeFileSync(
    o.kubeconfig,
    kubeconfigFor(o.server, tokens, o.context, o.ca ? { ca: readFileSync(o.ca, 'utf8') } : {}),
  );
  process.stdout.write(`wrote ${o.kubeconfig}\n`);
  process.exit(0);
}
const k = await startKubeStandIn({
  tokens,
  demoTraffic: true,
  seed: loadYaml(...DEPLOY_SEED, ...(o.seed.length ? o.seed : [WORKLOAD_SEED])),
});
writeFileSync(o.kubeconfig, kubeconfigFor(k.url, tokens, o.context, { ca: k.ca.certPem }));
if (o.aggregate) {
  // What a cluster admin sets up for an aggregated API server: its serving certificate, the
  // front proxy's client certificate it trusts for X-Remote-User, and the APIService.
  const host = new URL(o.aggregate).hostname;
  const ca = await createCa('mirrord-gateway-demo-ca');
  const serving = await issue(ca, { commonName: 'mirrord-gateway', ips: [host], usage: 'server' });
  const frontCa = await createCa('front-proxy-ca');
  const front = await issue(frontCa, { commonName: 'front-proxy-client', usage: 'client' });
  mkdirSync(o.tlsDir, { recursive: true });
  const files = {
    'tls.crt': serving.certPem,
    'tls.key': serving.keyPem,
    'ca.crt': ca.certPem,
    'front-ca.crt': frontCa.certPem,
    'client-ca.crt': k.ca.certPem,
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(o.tlsDir, name), text);
  k.setAggregate('operator.metalbear.co', { url: o.aggregate, ca: ca.certPem, cert: front.certPem, key: front.keyPem });
  k.apply(loadYaml(APISERVICE));
}
process.stdout.write(
  `${JSON.stringify({ msg: 'dev cluster ready', url: k.url, kubeconfig: o.kubeconfig, contexts: [...tokens.values()].map((u) => u.username) })}\n`,
);
const stop = () => void k.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
