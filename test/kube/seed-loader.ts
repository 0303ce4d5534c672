import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import type { KubeObject } from './registry.js';
import type { UserInfo } from './rbac.js';
import { parseTokenFile } from '../../services/gateway/src/adapters/auth/token-file.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
/** What every test cluster starts with: deploy/'s namespace, CRDs and RBAC. */
export const APISERVICE = here('../../deploy/apiservice.yaml');
export const DEPLOY_SEED = [
  here('../../deploy/namespace.yaml'),
  here('../../deploy/helm/mirrord-operator/crds'),
  here('../../deploy/rbac'),
];
/** The demo and test workloads and users' bindings, and their tokens. */
export const WORKLOAD_SEED = here('./seed');
/** The CRDs the workload seed uses (Argo Rollouts), applied and established before it. */
export const SEED_CRDS = here('./seed-crds');
export const SEED_TOKENS = here('./seed/tokens.csv');

/** Every object in the YAML files of the given files or directories (multi-document, `List`s unrolled). */
export function loadYaml(...paths: string[]): KubeObject[] {
  const out: KubeObject[] = [];
  for (const p of paths) {
    const files = statSync(p).isDirectory()
      ? readdirSync(p)
          .filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml')
          .sort()
          .map((f) => join(p, f))
      : [p];
    for (const f of files) {
      for (const doc of YAML.parseAllDocuments(readFileSync(f, 'utf8'))) {
        if (doc.errors.length) throw new Error(`${f}: ${doc.errors[0]!.message}`);
        const o = doc.toJS() as KubeObject | null;
        if (!o) continue;
        if (o.kind === 'List') out.push(...((o.items as KubeObject[]) ?? []));
        else out.push(o);
      }
    }
  }
  return out;
}

/** kube-apiserver --token-auth-file, read by the same parser the gateway uses for its token file. */
export function loadTokens(file: string): Map<string, UserInfo> {
  const m = new Map<string, UserInfo>();
  for (const [token, who] of parseTokenFile(readFileSync(file, 'utf8'), file))
    m.set(token, { username: who.user, uid: who.uid, groups: who.groups });
  return m;
}

/** A kubeconfig with one context per token user (named after the user), the first current. */
export function kubeconfigFor(
  server: string,
  tokens: Map<string, UserInfo>,
  current?: string,
  extra: { ca?: string } = {},
): string {
  const users = [...tokens].map(([token, u]) => ({
    name: u.username.replace(/^system:serviceaccount:[^:]+:/, ''),
    token,
  }));
  const cluster = {
    server,
    ...(server.startsWith('https')
      ? extra.ca
        ? { 'certificate-authority-data': Buffer.from(extra.ca).toString('base64') }
        : { 'insecure-skip-tls-verify': true }
      : {}),
  };
  return YAML.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'standin', cluster }],
    users: users.map((u) => ({ name: u.name, user: { token: u.token } })),
    contexts: users.map((u) => ({ name: u.name, context: { cluster: 'standin', user: u.name, namespace: 'default' } })),
    'current-context': current ?? users[0]?.name ?? '',
  });
}
