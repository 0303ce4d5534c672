/**
 * The Helm charts (deploy/helm/*) rendered by the real `helm` (issue 26), and the kustomize base
 * generated from them: deploy/*.yaml, deploy/license-server/ and components/license-fleet/ are the
 * charts' rendering with fixed values, so the charts are the one source and `kubectl apply -k`
 * keeps working. What kustomize cannot do is left out of its files: the chart's generated gateway
 * certificate (the bootstrap Job makes one instead) and the APIService's caBundle (kustomization.yaml
 * skips verification; the charts verify).
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { kubeBinPaths } from '../support/kube-apiserver.js';
import { tempDir } from '../support/tmp.js';

const exec = promisify(execFile);

export const OPERATOR_CHART = 'deploy/helm/mirrord-operator';
export const HUB_CHART = 'deploy/helm/mirrord-operator-license-server';

export interface Run {
  code: number;
  out: string;
  err: string;
}

/** The real helm with these arguments (never throws: the exit code and output). */
export async function helm(args: string[], timeoutMs = 120_000): Promise<Run> {
  try {
    const r = await exec(kubeBinPaths().helm, args, { encoding: 'utf8', maxBuffer: 32 << 20, timeout: timeoutMs });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : 1, out: x.stdout ?? '', err: x.stderr ?? String(e) };
  }
}

/** A values file in a fresh directory (helm reads values from files). */
export function valuesFile(values: unknown, name = 'values.yaml'): string {
  const f = join(tempDir('mirrord-values'), name);
  writeFileSync(f, typeof values === 'string' ? values : YAML.stringify(values));
  return f;
}

/** `helm template` of a chart with these values; throws with helm's message when it refuses. */
export async function template(chart: string, values: unknown, release = 'mirrord-operator'): Promise<string> {
  const r = await helm(['template', release, chart, '-f', valuesFile(values)]);
  if (r.code !== 0) throw new Error(`helm template ${chart}: ${r.err}`);
  return r.out;
}

export type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
};

/** The objects of a rendering. */
export const objects = (yaml: string): Obj[] =>
  YAML.parseAllDocuments(yaml)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => !!o);

/** A rendering split by the template each document came from (`# Source: <chart>/templates/<path>`). */
function bySource(yaml: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const doc of yaml.split(/^---\n/m)) {
    const m = /^# Source: [^/]+\/templates\/(.+)$/m.exec(doc);
    if (!m) continue;
    const body = doc.replace(/^# Source: .*\n/m, '').trim();
    if (!body) continue;
    out.set(m[1]!, [...(out.get(m[1]!) ?? []), body]);
  }
  return out;
}

/** The values the kustomize base is rendered with: today's names, the image kustomize sets. */
const KUSTOMIZE_OPERATOR = {
  image: { repository: 'mirrord-teams', tag: '0.1.0' },
  bootstrap: { jobName: 'mirrord-bootstrap' },
};
const KUSTOMIZE_FLEET = {
  ...KUSTOMIZE_OPERATOR,
  licenseServer: 'nats-leaf://hub.example:7422',
  license: { existingSecret: 'mirrord-license', fileKey: 'license.yaml' },
};
const KUSTOMIZE_HUB = {
  image: { repository: 'mirrord-teams', tag: '0.1.0' },
  bootstrap: { jobName: 'mirrord-license-bootstrap' },
  license: { existingSecret: 'mirrord-license-server', fileKey: 'license.yaml' },
};

const IMAGES = 'images:\n- name: mirrord-teams\n  newName: ghcr.io/mirrord-teams/mirrord-teams\n  newTag: 0.1.0\n';
const generated = (from: string) =>
  `# Generated from ${from} by test/deploy/charts.ts: edit the chart, then\n` +
  '# MIRRORD_WRITE_KUSTOMIZE=1 node --import tsx --test test/deploy/kustomize-base.int.test.ts\n';

/** Drops what kustomize cannot make from the operator's documents (see the file comment). */
function forKustomize(path: string, docs: string[]): string[] {
  if (path !== 'apiservice.yaml') return docs;
  return docs.filter((d) => !/^kind: Secret$/m.test(d)).map((d) => d.replace(/^ {2}caBundle: .*\n/m, ''));
}

/** Entries of `fleet` not in `base` (by key): what a strategic-merge patch must add. */
const added = <T extends Record<string, unknown>>(fleet: T[] = [], base: T[] = [], key: keyof T): T[] =>
  fleet.filter((x) => !base.some((y) => y[key] === x[key]));

type Pod = {
  containers: { name: string; env?: Record<string, unknown>[]; volumeMounts?: Record<string, unknown>[] }[];
  volumes?: Record<string, unknown>[];
};
const podOf = (o: Obj) => (o.spec!.template as { spec: Pod }).spec;

/** A strategic-merge patch of a workload: the env, mounts and volumes the fleet rendering adds. */
function workloadPatch(fleet: Obj, base: Obj): string {
  const [f, b] = [podOf(fleet), podOf(base)];
  const containers = f.containers
    .map((c) => {
      const old = b.containers.find((x) => x.name === c.name)!;
      const env = added(c.env, old.env, 'name');
      const volumeMounts = added(c.volumeMounts, old.volumeMounts, 'mountPath');
      return { name: c.name, ...(env.length ? { env } : {}), ...(volumeMounts.length ? { volumeMounts } : {}) };
    })
    .filter((c) => Object.keys(c).length > 1);
  const volumes = added(f.volumes, b.volumes, 'name');
  const { apiVersion, kind } = fleet;
  const metadata = { name: fleet.metadata.name, namespace: fleet.metadata.namespace };
  return YAML.stringify(
    { apiVersion, kind, metadata, spec: { template: { spec: { containers, volumes } } } },
    { flow: false },
  );
}

/** deploy/'s kustomize files (path under the repository → text), rendered from the charts. */
export async function kustomizeFiles(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const base = await template(OPERATOR_CHART, KUSTOMIZE_OPERATOR);
  const resources: string[] = [
    'helm/mirrord-operator/crds/policies.yaml',
    'helm/mirrord-operator/crds/profiles.yaml',
    'helm/mirrord-operator/crds/queues.yaml',
  ];
  for (const [path, docs] of bySource(base)) {
    // Helm hooks (the uninstall cleanup) are Helm's alone: applied by kubectl they would run at once.
    if (docs.every((d) => /helm\.sh\/hook:/.test(d))) continue;
    files.set(`deploy/${path}`, generated(`${OPERATOR_CHART}/templates/${path}`) + forKustomize(path, docs).join('\n---\n') + '\n');
    resources.push(path);
  }
  files.set(
    'deploy/kustomization.yaml',
    generated(OPERATOR_CHART) +
      '# kubectl apply -k deploy/: the chart with its default values in namespace mirrord, except that\n' +
      "# the bootstrap Job makes the gateway's certificate, so the APIService cannot carry its CA and\n" +
      '# skips verification (the Helm chart verifies: use it on a real cluster). Joined to a license hub:\n' +
      '# an overlay adding components/license-fleet and setting licenseServer and clusterName (README.md).\n' +
      'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n' +
      resources.map((r) => `- ${r}\n`).join('') +
      'patches:\n- target: {kind: APIService, name: v1.operator.metalbear.co}\n  patch: |-\n' +
      '    - {op: add, path: /spec/insecureSkipTLSVerify, value: true}\n' +
      IMAGES,
  );
  // the fleet component: the chart with licenseServer set, as patches of the base
  const [b, f] = [objects(base), objects(await template(OPERATOR_CHART, KUSTOMIZE_FLEET))];
  const pick = (os: Obj[], kind: string, name: string) => os.find((o) => o.kind === kind && o.metadata.name === name)!;
  const natsConf = bySource(await template(OPERATOR_CHART, KUSTOMIZE_FLEET)).get('nats.yaml')!.find((d) => /^kind: ConfigMap$/m.test(d))!;
  const from = `${OPERATOR_CHART} with licenseServer set`;
  files.set(
    'deploy/components/license-fleet/nats-leafnode.yaml',
    generated(from) + natsConf + '\n---\n' + workloadPatch(pick(f, 'StatefulSet', 'mirrord-nats'), pick(b, 'StatefulSet', 'mirrord-nats')),
  );
  files.set(
    'deploy/components/license-fleet/gateway-license.yaml',
    generated(from) +
      '# kubectl -n mirrord create secret generic mirrord-license --from-file=license.yaml=<the licence>\n' +
      workloadPatch(pick(f, 'Deployment', 'mirrord-gateway'), pick(b, 'Deployment', 'mirrord-gateway')),
  );
  // the hub
  const hubResources: string[] = [];
  for (const [path, docs] of bySource(await template(HUB_CHART, KUSTOMIZE_HUB))) {
    files.set(`deploy/license-server/${path}`, generated(`${HUB_CHART}/templates/${path}`) + docs.join('\n---\n') + '\n');
    hubResources.push(path);
  }
  files.set(
    'deploy/license-server/kustomization.yaml',
    generated(HUB_CHART) +
      '# The license hub: kubectl apply -k deploy/license-server/ (in the cluster that hosts it; every\n' +
      '# mirrord cluster dials its leafnode port). Before it starts it needs the Secret\n' +
      '# mirrord-license-server with `license.yaml` (the operator licence) and `key` (the reports key):\n' +
      '#   kubectl -n mirrord create secret generic mirrord-license-server \\\n' +
      '#     --from-file=license.yaml=<licence> --from-literal=key=$(uuidgen)\n' +
      '# Clusters join it with their own leafnode credentials: settings.yaml lists them (deploy/README.md).\n' +
      'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n' +
      hubResources.map((r) => `- ${r}\n`).join('') +
      IMAGES,
  );
  return files;
}
