/**
 * `npm run dev:cluster -- [--seed DIR]… [--tokens FILE] [--kubeconfig FILE]`: the Kubernetes
 * stand-in for the local demo, seeded with deploy/'s namespace and RBAC and the YAML in each
 * DIR (default test/kube/seed), writing a kubeconfig whose contexts are the token file's users.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { startKubeStandIn } from './server.js';
import { DEPLOY_SEED, SEED_TOKENS, WORKLOAD_SEED, kubeconfigFor, loadTokens, loadYaml } from './seed-loader.js';

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
  .parse();
const o = cmd.opts<{
  seed: string[];
  tokens: string;
  kubeconfig: string;
  context: string;
  server?: string;
  ca?: string;
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
process.stdout.write(
  `${JSON.stringify({ msg: 'dev cluster ready', url: k.url, kubeconfig: o.kubeconfig, contexts: [...tokens.values()].map((u) => u.username) })}\n`,
);
const stop = () => void k.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
