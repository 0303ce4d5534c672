/**
 * The node simulator's container runtime for the images it knows (the project's own, and NATS):
 * a pod's containers run as local processes, each in the pod's network namespace
 * (network.ts) and in a root of its own — an overlay of this machine's root filesystem (the
 * image's files: the repository, read-only, at the image's WORKDIR /app; nats-server as the
 * NATS image's entrypoint) with the pod's volumes mounted where the container asks and the
 * pod's /etc/hosts and /etc/resolv.conf — with the environment the kubelet would give it
 * (volumes.ts). So what `deploy/` and the Helm charts install really runs: the command, args,
 * env, ConfigMaps, Secrets and service-account token of each pod.
 * The kubelet's loop: readiness from the container's readinessProbe (httpGet and tcpSocket
 * probed; exec probes count as passing while the process runs), restarts by the pod's
 * restartPolicy with back-off, exit codes into the pod's status, SIGTERM then SIGKILL after
 * the grace period on deletion. Containers of other images (a sidecar shell) are reported
 * running without a process. Needs root, `ip`, `unshare`, `mount` and overlayfs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CoreV1Api, V1Container, V1ContainerStatus, V1Pod, V1PodStatus } from '@kubernetes/client-node';
import type { PodNetwork } from './network.js';
import { Missing, PodFiles, expand } from './volumes.js';

const REPO = resolve(fileURLToPath(new URL('../../../', import.meta.url)));

interface Image {
  /** A bind mount of this machine's directory at the image's directory (read-only). */
  bind?: [string, string];
  workdir: string;
  /** The image's ENTRYPOINT, when the container gives no command. */
  entrypoint?: string[];
}

/** The images whose containers run here, by repository name. */
function imageOf(c: V1Container): Image | undefined {
  const repo = (c.image ?? '').replace(/[:@].*$/, '');
  if (/(^|\/)mirrord-teams$/.test(repo)) return { bind: [REPO, '/app'], workdir: c.workingDir ?? '/app' };
  if (/^(docker\.io\/)?(library\/)?nats$/.test(repo) && !c.command)
    return { workdir: c.workingDir ?? '/', entrypoint: ['nats-server'] };
  return undefined;
}

/** The container's root: overlay of `/`, the image's directory, the volumes; then its command. */
const SCRIPT = `set -e
R="$1"; D="$2"; W="$3"; shift 3
mount -t overlay overlay -o "lowerdir=/,upperdir=$D/upper,workdir=$D/work" "$R"
mount --rbind /proc "$R/proc"; mount --rbind /dev "$R/dev"; mount --rbind /sys "$R/sys"
while read -r src dst ro; do
  # Symlinks in the path (/var/run -> /run) resolve inside the container's root, never the host's.
  dst=$(chroot "$R" /usr/bin/realpath -m "$dst")
  if [ -d "$src" ]; then mkdir -p "$R$dst"; else mkdir -p "$(dirname "$R$dst")"; touch "$R$dst"; fi
  mount --bind "$src" "$R$dst"
  if [ "$ro" = ro ]; then mount -o remount,bind,ro "$R$dst"; fi
done < "$D/mounts"
exec chroot "$R" /bin/sh -c 'cd "$0" && exec "$@"' "$W" "$@"
`;

/** What starts one container's process again (a restart reuses it). */
interface Launch {
  c: V1Container;
  env: Record<string, string>;
  argv: string[];
  workdir: string;
  /** The container's directory: run.sh, mounts, its root, upper and work dirs. */
  cdir: string;
}

interface Running {
  proc?: ChildProcess;
  restarts: number;
  ready: boolean;
  state: V1ContainerStatus['state'];
  lastState?: V1ContainerStatus['lastState'];
}

interface PodState {
  pod: V1Pod;
  netns: string;
  ip: string;
  dir: string;
  containers: Map<string, Running>;
  stopping: boolean;
  timers: Set<NodeJS.Timeout>;
}

export interface PodRuntimeOptions {
  core: CoreV1Api;
  network: PodNetwork;
  dir: string;
  /** Where `default/kubernetes` is (KUBERNETES_SERVICE_HOST / _PORT). */
  kubernetes: () => { host: string; port: number } | undefined;
  /** Writes the pod's status (merge patch on pods/status). */
  report: (pod: V1Pod, status: V1PodStatus) => Promise<void>;
  log: (line: string) => void;
}

export class PodRuntime {
  readonly #pods = new Map<string, PodState>();
  constructor(private readonly o: PodRuntimeOptions) {
    mkdirSync(o.dir, { recursive: true });
  }

  /** Does any container of this pod run an image this runtime runs? */
  runs(pod: V1Pod): boolean {
    return (pod.spec?.containers ?? []).some((c) => imageOf(c) !== undefined);
  }

  /** Where a claim's data lives (a PersistentVolume's hostPath; kept across the pods using it). */
  volumeDir(namespace: string, claim: string): string {
    const d = join(this.o.dir, 'pv', namespace, claim);
    mkdirSync(d, { recursive: true });
    return d;
  }

  has(uid: string): boolean {
    return this.#pods.has(uid);
  }

  /** The pod's containers' output so far (for a test's failure message). */
  logs(pod: { namespace: string; name: string }): string {
    const s = [...this.#pods.values()].find(
      (p) => p.pod.metadata?.name === pod.name && p.pod.metadata?.namespace === pod.namespace,
    );
    if (!s) return '';
    return [...s.containers.keys()]
      .map((c) => {
        try {
          return `--- ${c}\n${readFileSync(join(s.dir, `${c}.log`), 'utf8')}`;
        } catch {
          return '';
        }
      })
      .join('\n');
  }

  /** Starts the pod: its network, volumes and containers. `Missing` when a Secret/ConfigMap is not there yet. */
  async start(pod: V1Pod): Promise<void> {
    const uid = pod.metadata!.uid!;
    let s = this.#pods.get(uid);
    if (!s) {
      const { netns, ip } = this.o.network.podNamespace();
      const dir = join(this.o.dir, uid);
      mkdirSync(dir, { recursive: true });
      s = { pod, netns, ip, dir, containers: new Map(), stopping: false, timers: new Set() };
      this.#pods.set(uid, s);
    }
    const state = s;
    const withIp: V1Pod = { ...pod, status: { ...pod.status, podIP: state.ip, hostIP: '127.0.0.1' } };
    const files = new PodFiles(this.o.core, withIp, join(this.o.dir, 'pv'));
    const volumes = new Map<string, string>();
    for (const v of pod.spec?.volumes ?? []) volumes.set(v.name, await files.volume(v, join(state.dir, 'volumes')));
    const plans: Array<{ c: V1Container; env: Record<string, string>; argv: string[]; image: Image }> = [];
    for (const c of pod.spec?.containers ?? []) {
      const image = imageOf(c);
      if (!image) continue;
      const env = await files.env(c, this.o.kubernetes());
      const argv = [...(c.command ?? image.entrypoint ?? []), ...(c.args ?? [])].map((a) => expand(a, env));
      plans.push({ c, env, argv, image });
    }
    const ns = pod.metadata!.namespace!;
    const hosts = join(state.dir, 'hosts');
    writeFileSync(hosts, `127.0.0.1 localhost\n${state.ip} ${pod.spec?.hostname ?? pod.metadata!.name}\n`);
    writeFileSync(
      join(state.dir, 'resolv.conf'),
      `search ${ns}.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n`,
    );
    this.o.network.registerHosts(uid, hosts, ns, pod.metadata!.name!);
    for (const c of pod.spec?.containers ?? [])
      state.containers.set(c.name, {
        restarts: 0,
        ready: !imageOf(c),
        state: { running: { startedAt: new Date() } },
      });
    for (const p of plans) {
      const cdir = join(state.dir, p.c.name);
      mkdirSync(join(cdir, 'root'), { recursive: true });
      mkdirSync(join(cdir, 'upper'), { recursive: true });
      mkdirSync(join(cdir, 'work'), { recursive: true });
      const mounts = [
        ...(p.image.bind ? [`${p.image.bind[0]} ${p.image.bind[1]} ro`] : []),
        `${hosts} /etc/hosts ro`,
        `${join(state.dir, 'resolv.conf')} /etc/resolv.conf ro`,
        ...(p.c.volumeMounts ?? []).map(
          (m) => `${join(volumes.get(m.name)!, m.subPath ?? '')} ${m.mountPath} ${m.readOnly ? 'ro' : 'rw'}`,
        ),
      ];
      writeFileSync(join(cdir, 'mounts'), `${mounts.join('\n')}\n`);
      writeFileSync(join(cdir, 'run.sh'), SCRIPT);
      this.#spawn(state, { c: p.c, env: p.env, argv: p.argv, workdir: p.image.workdir, cdir });
    }
    await this.#report(state, true);
  }

  #spawn(s: PodState, launch: Launch): void {
    if (s.stopping) return;
    const { c, env, argv, workdir, cdir } = launch;
    const out = openSync(join(s.dir, `${c.name}.log`), 'a');
    const proc = spawn(
      'ip',
      [
        'netns',
        'exec',
        s.netns,
        'unshare',
        '--mount',
        '--propagation',
        'private',
        '/bin/sh',
        join(cdir, 'run.sh'),
        join(cdir, 'root'),
        cdir,
        workdir,
        ...argv,
      ],
      { env, detached: true, stdio: ['ignore', out, out] },
    );
    closeSync(out);
    const r = s.containers.get(c.name)!;
    r.proc = proc;
    r.ready = false;
    r.state = { running: { startedAt: new Date() } };
    proc.once('exit', (code, signal) => this.#exited(s, launch, code ?? (signal ? 137 : 1)));
    this.#probe(s, c, proc);
  }

  #exited(s: PodState, launch: Launch, exitCode: number): void {
    const r = s.containers.get(launch.c.name)!;
    r.proc = undefined;
    r.ready = false;
    const finished = { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', finishedAt: new Date() };
    if (s.stopping) return;
    const policy = s.pod.spec?.restartPolicy ?? 'Always';
    if (policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0)) {
      r.restarts++;
      r.lastState = { terminated: finished };
      r.state = { waiting: { reason: 'CrashLoopBackOff', message: `exited with ${exitCode}; restarting` } };
      const t = setTimeout(
        () => {
          s.timers.delete(t);
          this.#spawn(s, launch);
          void this.#report(s, false);
        },
        Math.min(10_000, 500 * 2 ** Math.min(r.restarts, 5)),
      );
      s.timers.add(t);
    } else r.state = { terminated: finished };
    void this.#report(s, false);
  }

  /** Ready once the readinessProbe passes (httpGet, tcpSocket); exec probes pass while running. */
  #probe(s: PodState, c: V1Container, proc: ChildProcess): void {
    const probe = c.readinessProbe;
    const port = (p: number | string | undefined) =>
      typeof p === 'number' ? p : Number((c.ports ?? []).find((x) => x.name === p)?.containerPort ?? p);
    const check = async (): Promise<boolean> => {
      if (probe?.httpGet) {
        const g = probe.httpGet;
        const req = g.scheme === 'HTTPS' ? httpsRequest : httpRequest;
        return new Promise((ok) => {
          const q = req(
            { host: s.ip, port: port(g.port), path: g.path ?? '/', rejectUnauthorized: false, timeout: 2000 },
            (res) => {
              res.resume();
              ok((res.statusCode ?? 500) < 400);
            },
          );
          q.on('error', () => ok(false));
          q.on('timeout', () => q.destroy());
          q.end();
        });
      }
      if (probe?.tcpSocket)
        return new Promise((ok) => {
          const sock = connect(port(probe.tcpSocket!.port), s.ip);
          sock.setTimeout(2000, () => (sock.destroy(), ok(false)));
          sock.once('connect', () => (sock.destroy(), ok(true)));
          sock.once('error', () => ok(false));
        });
      return true;
    };
    const tick = async () => {
      const r = s.containers.get(c.name)!;
      if (s.stopping || r.proc !== proc) return;
      if (await check()) {
        if (r.proc !== proc || s.stopping) return;
        r.ready = true;
        return void this.#report(s, false);
      }
      const t = setTimeout(() => (s.timers.delete(t), void tick()), 1000);
      s.timers.add(t);
    };
    const t = setTimeout(() => (s.timers.delete(t), void tick()), 300);
    s.timers.add(t);
  }

  async #report(s: PodState, first: boolean): Promise<void> {
    if (s.stopping) return;
    const spec = s.pod.spec?.containers ?? [];
    const all = [...s.containers.values()];
    const ran = spec.filter((c) => imageOf(c)).map((c) => s.containers.get(c.name)!);
    const done = ran.length > 0 && ran.every((r) => r.state?.terminated);
    const phase = done ? (ran.every((r) => r.state!.terminated!.exitCode === 0) ? 'Succeeded' : 'Failed') : 'Running';
    const ready = !done && all.every((r) => r.ready);
    const t = new Date();
    const cond = (type: string, ok: boolean) => ({ type, status: ok ? 'True' : 'False', lastTransitionTime: t });
    const status: V1PodStatus = {
      phase,
      ...(first ? { startTime: t } : {}),
      podIP: s.ip,
      podIPs: [{ ip: s.ip }],
      hostIP: '127.0.0.1',
      conditions: [
        cond('PodScheduled', true),
        cond('Initialized', true),
        cond('ContainersReady', ready),
        cond('Ready', ready),
      ],
      containerStatuses: spec.map((c) => {
        const r = s.containers.get(c.name)!;
        return {
          name: c.name,
          image: c.image ?? '',
          imageID: '',
          ready: r.ready,
          started: !!r.state?.running,
          restartCount: r.restarts,
          containerID: `containerd://${s.pod.metadata!.uid}-${c.name}`,
          state: r.state,
          ...(r.lastState ? { lastState: r.lastState } : {}),
        };
      }),
    };
    await this.o
      .report(s.pod, status)
      .catch((e: Error) => this.o.log(`status of ${s.pod.metadata?.name}: ${e.message}`));
  }

  /** Stops the pod's processes (SIGTERM, SIGKILL after the grace period) and removes its network. */
  async stop(uid: string, graceSeconds = 30): Promise<void> {
    const s = this.#pods.get(uid);
    if (!s) return;
    s.stopping = true;
    for (const t of s.timers) clearTimeout(t);
    const procs = [...s.containers.values()].flatMap((r) => (r.proc ? [r.proc] : []));
    const gone = (p: ChildProcess) => p.exitCode !== null || p.signalCode !== null;
    const signal = (p: ChildProcess, sig: NodeJS.Signals) => {
      try {
        process.kill(-p.pid!, sig);
      } catch {
        /* already gone */
      }
    };
    for (const p of procs) signal(p, 'SIGTERM');
    const deadline = Date.now() + Math.min(graceSeconds, 10) * 1000;
    while (procs.some((p) => !gone(p)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    for (const p of procs) if (!gone(p)) signal(p, 'SIGKILL');
    while (procs.some((p) => !gone(p))) await new Promise((r) => setTimeout(r, 50));
    this.o.network.unregisterHosts(uid);
    this.o.network.removeNamespace(s.netns);
    rmSync(s.dir, { recursive: true, force: true });
    this.#pods.delete(uid);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pods.keys()].map((uid) => this.stop(uid, 2)));
  }
}

export { Missing };
