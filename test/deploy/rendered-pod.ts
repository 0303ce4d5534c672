/**
 * A pod of a rendered deploy/ overlay, run on this machine: `kubectl kustomize`, the Secrets its
 * bootstrap Job would make (the script's own planning, for the Job's args and env), the files laid
 * out the way the pod mounts them, its env resolved as the kubelet does, and its nats-server
 * started on loopback ports (listeners, routes and paths substituted, nothing else).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import {
  createNatsTls,
  createOperatorMaterial,
  newSeed,
  parseInvocation,
  planSecrets,
} from '../../scripts/bootstrap-secrets.js';
import { tempDir } from '../support/tmp.js';

const exec = promisify(execFile);
export const NATS_BIN = process.env.NATS_SERVER_BIN ?? 'nats-server';

type KeyRef = { name: string; key: string };
type EnvVar = {
  name: string;
  value?: string;
  valueFrom?: { configMapKeyRef?: KeyRef; secretKeyRef?: KeyRef; fieldRef?: { fieldPath: string } };
};
export type Container = {
  name: string;
  args?: string[];
  command?: string[];
  env?: EnvVar[];
  volumeMounts?: { name: string; mountPath: string }[];
};
type Volume = {
  name: string;
  configMap?: { name: string };
  secret?: { secretName: string; items?: { key: string; path: string }[] };
};
export type Doc = {
  kind: string;
  metadata: { name: string; namespace?: string };
  data?: Record<string, string>;
  spec?: {
    template: { spec: { containers: Container[]; volumes?: Volume[]; serviceAccountName?: string } };
    volumeClaimTemplates?: { metadata: { name: string } }[];
  };
};
/** Secrets by name, their data as text. */
export type Secrets = Map<string, Record<string, string>>;

/** `kubectl kustomize` of an overlay: `resources` (paths under the repo) and ConfigMap data patches. */
export async function renderOverlay(resources: string[], components: string[], settings: Record<string, Record<string, string>>) {
  const dir = tempDir('mirrord-overlay');
  const rel = (p: string) => relative(dir, resolve(p));
  const patches = Object.entries(settings).map(
    ([name, data]) =>
      `- patch: |-\n    apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: ${name}, namespace: mirrord}\n    data: ${JSON.stringify(data)}\n`,
  );
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    `resources: [${resources.map(rel).join(', ')}]\ncomponents: [${components.map(rel).join(', ')}]\npatches:\n${patches.join('')}`,
  );
  const out = (await exec('kubectl', ['kustomize', dir], { encoding: 'utf8' })).stdout;
  return YAML.parseAllDocuments(out).map((x) => x.toJS() as Doc);
}

export const find = (docs: Doc[], kind: string, name: string): Doc => {
  const d = docs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!d) throw new Error(`no ${kind} ${name} in the rendered manifests`);
  return d;
};
export const containerOf = (w: Doc, name: string): Container =>
  w.spec!.template.spec.containers.find((c) => c.name === name)!;

/** A container's environment as the kubelet gives it (values, ConfigMap and Secret keys, the pod's name and namespace). */
export function podEnv(c: Container, docs: Doc[], secrets: Secrets, pod: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    const from = e.valueFrom;
    const v =
      e.value ??
      (from?.configMapKeyRef && find(docs, 'ConfigMap', from.configMapKeyRef.name).data![from.configMapKeyRef.key]) ??
      (from?.secretKeyRef && secrets.get(from.secretKeyRef.name)?.[from.secretKeyRef.key]) ??
      (from?.fieldRef && ({ 'metadata.name': pod, 'metadata.namespace': 'mirrord' } as Record<string, string>)[from.fieldRef.fieldPath]);
    if (v === undefined) throw new Error(`${c.name}: env ${e.name} has no value (is its Secret there?)`);
    env[e.name] = v;
  }
  return env;
}

/**
 * The Secrets after the rendered install's bootstrap Job ran, with its args and env (the
 * kubelet's), over `existing` (none: the first run).
 */
export async function jobSecrets(docs: Doc[], existing: Secrets = new Map()): Promise<Secrets> {
  const job = docs.find((d) => d.kind === 'Job')!;
  const c = job.spec!.template.spec.containers[0]!;
  const run = parseInvocation(c.args!, { ...podEnv(c, docs, existing, job.metadata.name), POD_NAMESPACE: 'mirrord' });
  if (run.mode !== 'cluster') throw new Error('the Job runs against the cluster');
  const gen = { seed: newSeed, tls: createNatsTls, operator: createOperatorMaterial };
  const plan = await planSecrets(run.options, existing, gen, new Date());
  return new Map([...existing, ...[...plan.create, ...plan.update].map((s) => [s.name, s.data] as const)]);
}

/**
 * Lays out a container's mounts under a fresh root (ConfigMaps and Secrets as files, claims as
 * empty directories) and returns the root; `rebase` then points configuration at it.
 */
export function layOut(docs: Doc[], w: Doc, c: Container, secrets: Secrets): string {
  const root = tempDir(`pod-${w.metadata.name}`);
  const claims = new Set((w.spec!.volumeClaimTemplates ?? []).map((t) => t.metadata.name));
  for (const m of c.volumeMounts ?? []) {
    const at = join(root, m.mountPath);
    mkdirSync(at, { recursive: true });
    if (claims.has(m.name)) continue;
    const v = w.spec!.template.spec.volumes!.find((x) => x.name === m.name)!;
    const files: Record<string, string> = v.configMap
      ? find(docs, 'ConfigMap', v.configMap.name).data!
      : v.secret
        ? secretFiles(secrets, v.secret)
        : {};
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(at, path)), { recursive: true });
      writeFileSync(join(at, path), text);
    }
  }
  return root;
}

function secretFiles(secrets: Secrets, s: NonNullable<Volume['secret']>): Record<string, string> {
  const data = secrets.get(s.secretName);
  if (!data) throw new Error(`the pod mounts Secret ${s.secretName}, which nobody made`);
  if (!s.items) return data;
  return Object.fromEntries(s.items.map((i) => [i.path, data[i.key]!]));
}

/**
 * A configuration as the pod under `root` reads it on loopback: absolute paths under the pod's
 * mounts moved to the root, and each `host:port` listener or peer in `ports` moved to 127.0.0.1
 * on the port given (`0.0.0.0:4222`, `mirrord-nats-1.mirrord-nats:6222`…).
 */
export function rebase(text: string, root: string, mounts: string[], ports: Record<string, number>): string {
  let out = text;
  for (const m of mounts) out = out.replace(new RegExp(`(?<=[\\s:"])${m}(?=[/\\s,}"]|$)`, 'gm'), `${root}${m}`);
  out = out.replace(/store_dir: ([^\s,}]+)/, 'store_dir: "$1"');
  for (const [addr, port] of Object.entries(ports)) out = out.replaceAll(addr, `127.0.0.1:${port}`);
  return out;
}

/** Rebases every `.conf` file of the container's ConfigMap and Secret mounts; returns nats.conf's path. */
export function rebaseMounts(c: Container, root: string, ports: Record<string, number>): string {
  const mounts = (c.volumeMounts ?? []).map((m) => m.mountPath);
  for (const m of mounts)
    for (const f of ['nats.conf', 'auth.conf']) {
      const p = join(root, m, f);
      let text: string;
      try {
        text = readFileSync(p, 'utf8');
      } catch {
        continue;
      }
      writeFileSync(p, rebase(text, root, mounts, ports));
    }
  return join(root, '/etc/nats/config/nats.conf');
}

/** nats-server -t's verdict (stdout and stderr) on a configuration, with the pod's env. */
export async function natsTest(conf: string, env: Record<string, string>): Promise<string> {
  const r = await exec(NATS_BIN, ['-t', '-c', conf], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' });
  return r.stdout + r.stderr;
}

export interface RunningNats {
  proc: ChildProcess;
  log(): string;
  /** Resolves when the process has exited (by itself, or stopped). */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** nats-server with this configuration and env, once it says it is ready. */
export async function runNats(conf: string, env: Record<string, string>): Promise<RunningNats> {
  const proc = spawn(NATS_BIN, ['-c', conf], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  await new Promise<void>((ready, fail) => {
    proc.stderr!.on('data', (d: Buffer) => {
      if (log.length < 1_000_000) log += d.toString();
      if (log.includes('Server is ready')) ready();
    });
    proc.once('error', fail);
    void exited.then((code) => fail(new Error(`nats-server exited (${code}): ${log.slice(-800)}`)));
  });
  return {
    proc,
    log: () => log,
    exited,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}
