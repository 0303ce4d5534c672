import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { eventually } from '../support/eventually.js';

/**
 * The stand-in's container runtime for a real `mirrord-agent` (MIRRORD_AGENT_BIN): each target
 * pod gets a Linux network namespace (veth to the host, 10.201.N.2) and a PID namespace where a
 * small HTTP app, PID 1 with the target container's env, serves the pod's container ports, as
 * its containers would; the agent runs *in* those namespaces in `ephemeral` mode (what
 * `targeted` reaches through containerd on a real node), so its iptables steal and its sniffer
 * see the app's traffic and /proc/1/environ is the pod's environment. The agent pod's own loopback
 * IP forwards to it, so the gateway dials the agent where the pod status says it is.
 * Needs root (ip netns, iptables); `curl http://10.201.N.2:PORT/` is traffic to the target.
 */
export interface RealAgentOptions {
  bin: string;
  /** The target pod (`namespace/name`) whose namespaces the agent enters, its ports and its container's env. */
  targetPod: string;
  targetPorts: number[];
  targetEnv: Record<string, string>;
  /** Where the gateway dials it: the agent pod's IP and `-l` port. */
  listenHost: string;
  port: number;
  startupTimeoutSeconds?: number;
  env: Record<string, string>;
  logDir: string;
  /** Writes each connection's bytes both ways here (meaningful with OPERATOR_AGENT_CONNECTION_TLS=false). */
  captureDir?: string;
  onExit: (code: number) => void;
}

const run = (...args: string[]) => {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr || r.error?.message}`);
};

/** A target pod as the node runs it: its network namespace, IP, and its app's PID (on this host). */
export interface PodSandbox {
  ns: string;
  ip: string;
  /** The app: PID 1 of the pod's own PID namespace (its host PID), with the pod's environment. */
  pid1: number;
  app: ChildProcess;
}

/** One sandbox per target pod, made once (concurrent agents of one pod share the promise). */
const sandboxes = new Map<string, Promise<PodSandbox>>();
const made: Array<{ ns: string; app?: ChildProcess }> = [];
let nextNet = 1;

/** An HTTP app answering on every given port: "<pod> app: METHOD /path". */
const APP = `const http=require('http');const pod=process.argv[1];
for(const p of process.argv.slice(2))http.createServer((q,r)=>r.end(pod+' app: '+q.method+' '+q.url+'\\n')).listen(Number(p),'0.0.0.0');`;

/** What a container's image gives every process before the pod spec's env (the kubelet adds HOSTNAME). */
const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The direct children of a process (empty once it is gone). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Resolves the forked child of `unshare --fork` (the namespace's PID 1) once it exists. */
async function pid1Of(unshare: ChildProcess): Promise<number> {
  const gone = () => new Error(`the pod's app did not start (unshare ${unshare.exitCode ?? unshare.signalCode})`);
  if (unshare.exitCode !== null || unshare.signalCode) throw gone();
  const exited = new Promise<never>((_, reject) => unshare.once('exit', () => reject(gone())));
  exited.catch(() => undefined);
  return Promise.race([
    eventually("the pod's app (unshare's forked child)", () => childrenOf(unshare.pid!)[0], 5000, 25),
    exited,
  ]);
}

/**
 * The target pod's sandbox: a network namespace (veth to the host, 10.201.N.2) and a PID
 * namespace with its own /proc whose PID 1 is the app, started with the target container's
 * spec env — so an agent entered into it (`enterPod`) finds the pod's variables in
 * /proc/1/environ, as the real agent does in `ephemeral` mode. `--kill-child`: when the
 * `unshare` we hold dies, PID 1 dies and the kernel ends everything in the namespace.
 */
export function podSandbox(
  targetPod: string,
  ports: number[],
  env: Record<string, string>,
  logDir: string,
): Promise<PodSandbox> {
  const have = sandboxes.get(targetPod);
  if (have) return have;
  const n = nextNet++;
  const ns = `mt-${process.pid % 10_000}-${n}`;
  const [host, peer] = [`mth${process.pid % 10_000}x${n}`, `mtp${process.pid % 10_000}x${n}`];
  const ip = `10.201.${n}.2`;
  const starting = (async () => {
    run('ip', 'netns', 'add', ns);
    const mine: { ns: string; app?: ChildProcess } = { ns };
    made.push(mine);
    run('ip', 'link', 'add', host, 'type', 'veth', 'peer', 'name', peer);
    run('ip', 'link', 'set', peer, 'netns', ns);
    run('ip', 'addr', 'add', `10.201.${n}.1/24`, 'dev', host);
    run('ip', 'link', 'set', host, 'up');
    run('ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', `${ip}/24`, 'dev', peer);
    run('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', peer, 'up');
    run('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
    run('ip', 'netns', 'exec', ns, 'ip', 'route', 'add', 'default', 'via', `10.201.${n}.1`);
    mkdirSync(logDir, { recursive: true });
    const pod = targetPod.split('/')[1] ?? targetPod;
    // `ip netns exec` execs unshare in place, so this child's PID is unshare's.
    const unshare = ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child'];
    const app = spawn(
      'ip',
      ['netns', 'exec', ns, ...unshare, process.execPath, '-e', APP, targetPod, ...ports.map(String)],
      {
        env: { PATH: IMAGE_PATH, HOSTNAME: pod, ...env },
        stdio: ['ignore', 'ignore', openSync(join(logDir, `${ns}-app.log`), 'w')],
      },
    );
    mine.app = app;
    const sandbox = { ns, ip, pid1: await pid1Of(app), app };
    process.stderr.write(
      `stand-in: pod ${targetPod} runs in network namespace ${ns} at ${ip} (ports ${ports.join(', ')}), its app PID 1 of its own PID namespace\n`,
    );
    return sandbox;
  })();
  sandboxes.set(targetPod, starting);
  starting.catch(() => sandboxes.delete(targetPod));
  return starting;
}

/** The argv prefix that runs a command inside the pod beside its app: its PID, mount (/proc) and network namespaces. */
export const enterPod = (s: PodSandbox): string[] => [
  'nsenter',
  '-t',
  String(s.pid1),
  '--pid',
  '--mount',
  '--net',
  '--',
];

export class RealAgent {
  #forward: Server | undefined;
  #exited = false;

  private constructor(private readonly proc: ChildProcess) {}

  static async start(o: RealAgentOptions): Promise<RealAgent> {
    mkdirSync(o.logDir, { recursive: true });
    const sandbox = await podSandbox(o.targetPod, o.targetPorts, o.targetEnv, o.logDir);
    const { ns, ip } = sandbox;
    const log = openSync(join(o.logDir, `agent-${ns}-${Date.now()}.log`), 'w');
    const args = ['-l', String(o.port), ...(o.startupTimeoutSeconds ? ['-t', String(o.startupTimeoutSeconds)] : [])];
    const [nsenter, ...enter] = enterPod(sandbox);
    // Only what the agent container is given (an ephemeral agent reports its own env with
    // /proc/1's as the target's), never this machine's.
    const proc = spawn(nsenter!, [...enter, o.bin, ...args, 'ephemeral'], {
      env: { PATH: process.env.PATH ?? IMAGE_PATH, ...o.env },
      stdio: ['ignore', log, log],
    });
    const agent = new RealAgent(proc);
    proc.once('exit', (code, signal) => {
      agent.#forward?.close();
      if (!agent.#exited) o.onExit(code ?? (signal === 'SIGKILL' ? 137 : 1));
    });
    // The agent pod's IP: bytes go to the agent in the target's namespace.
    let connections = 0;
    agent.#forward = createServer((c) => {
      const up = connect(o.port, ip);
      if (o.captureDir) {
        const n = ++connections;
        mkdirSync(o.captureDir, { recursive: true });
        const file = (dir: string) => openSync(join(o.captureDir!, `${ns}-${n}-${dir}.bin`), 'w');
        const [toAgent, fromAgent] = [file('operator-to-agent'), file('agent-to-operator')];
        c.on('data', (b: Buffer) => writeSync(toAgent, b));
        up.on('data', (b: Buffer) => writeSync(fromAgent, b));
      }
      c.pipe(up).pipe(c);
      const end = () => {
        c.destroy();
        up.destroy();
      };
      c.on('error', end);
      up.on('error', end);
    });
    await new Promise<void>((resolve, reject) => {
      agent.#forward!.once('error', reject);
      agent.#forward!.listen(o.port, o.listenHost, resolve);
    });
    return agent;
  }

  /** nsenter forks the agent and passes no signal on: the agent (and its own child) get it. */
  #signal(signal: NodeJS.Signals, all: boolean): void {
    const agents = childrenOf(this.proc.pid!);
    const targets = all ? agents.flatMap((a) => [...childrenOf(a), a]) : agents;
    for (const pid of targets)
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    if (all || !agents.length) this.proc.kill(signal);
  }

  kill(): void {
    this.#signal('SIGKILL', true);
  }

  close(): Promise<void> {
    this.#exited = true;
    this.#forward?.close();
    // The agent's first process cleans its iptables rules on SIGTERM and ends its child.
    this.#signal('SIGTERM', false);
    return Promise.resolve();
  }
}

/** Removes the sandboxes this process made (their apps' PID namespaces end with `unshare`). */
export function removePodNetworks(): void {
  for (const { ns, app } of made.splice(0)) {
    app?.kill('SIGKILL');
    spawnSync('ip', ['netns', 'del', ns]);
  }
  sandboxes.clear();
}
