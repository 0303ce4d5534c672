import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import type { KubeObject } from './registry.js';
import type { UserInfo } from './rbac.js';

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

/** kube-apiserver --token-auth-file: `token,user,uid,"group1,group2"`. */
export function loadTokens(file: string): Map<string, UserInfo> {
  const m = new Map<string, UserInfo>();
  for (const raw of readFileSync(file, 'utf8').split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const f = line.match(/("[^"]*"|[^,]+)/g)!.map((s) => s.replace(/^"|"$/g, '').trim());
    m.set(f[0]!, { username: f[1]!, uid: f[2] ?? '', groups: f[3] ? f[3].split(',').map((g) => g.trim()).filter(Boolean) : [] });
  }
  return m;
}

/** A kubeconfig with one context per token user (named after the user), the first current. */
export function kubeconfigFor(server: string, tokens: Map<string, UserInfo>, current?: string, extra: { ca?: string } = {}): string {
  const users = [...tokens].map(([token, u]) => ({ name: u.username.replace(/^system:serviceaccount:[^:]+:/, ''), token }));
  const cluster = { server, ...(server.startsWith('https') ? (extra.ca ? { 'certificate-authority-data': Buffer.from(extra.ca).toString('base64') } : { 'insecure-skip-tls-verify': true }) : {}) };
  return YAML.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'standin', cluster }],
    users: users.map((u) => ({ name: u.name, user: { token: u.token } })),
    contexts: users.map((u) => ({ name: u.name, context: { cluster: 'standin', user: u.name, namespace: 'default' } })),
    'current-context': current ?? users[0]?.name ?? '',
  });
}
