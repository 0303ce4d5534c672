import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, writeSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';

/**
 * The stand-in's container runtime for a real `mirrord-agent` (MIRRORD_AGENT_BIN): each target
 * pod gets a Linux network namespace (veth to the host, 10.201.N.2) where a small HTTP app
 * serves the pod's container ports, as its containers would; the agent runs *in* that
 * namespace in `ephemeral` mode (what `targeted` reaches through containerd on a real node),
 * so its iptables steal and its sniffer see the app's traffic. The agent pod's own loopback
 * IP forwards to it, so the gateway dials the agent where the pod status says it is.
 * Needs root (ip netns, iptables); `curl http://10.201.N.2:PORT/` is traffic to the target.
 */
export interface RealAgentOptions {
  bin: string;
  /** The target pod (`namespace/name`) whose namespace the agent enters, and its ports. */
  targetPod: string;
  targetPorts: number[];
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

/** One network namespace per target pod, made once. */
const namespaces = new Map<string, { ns: string; ip: string; app: ChildProcess }>();
let nextNet = 1;

/** An HTTP app answering on every given port: "<pod> app: METHOD /path". */
const APP = `const http=require('http');const pod=process.argv[1];
for(const p of process.argv.slice(2))http.createServer((q,r)=>r.end(pod+' app: '+q.method+' '+q.url+'\\n')).listen(Number(p),'0.0.0.0');`;

function podNetwork(targetPod: string, ports: number[], logDir: string): { ns: string; ip: string } {
  const have = namespaces.get(targetPod);
  if (have) return have;
  const n = nextNet++;
  const ns = `mt-${process.pid % 10_000}-${n}`;
  const [host, peer] = [`mth${process.pid % 10_000}x${n}`, `mtp${process.pid % 10_000}x${n}`];
  const ip = `10.201.${n}.2`;
  run('ip', 'netns', 'add', ns);
  run('ip', 'link', 'add', host, 'type', 'veth', 'peer', 'name', peer);
  run('ip', 'link', 'set', peer, 'netns', ns);
  run('ip', 'addr', 'add', `10.201.${n}.1/24`, 'dev', host);
  run('ip', 'link', 'set', host, 'up');
  run('ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', `${ip}/24`, 'dev', peer);
  run('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', peer, 'up');
  run('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
  run('ip', 'netns', 'exec', ns, 'ip', 'route', 'add', 'default', 'via', `10.201.${n}.1`);
  const app = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', APP, targetPod, ...ports.map(String)], {
    stdio: ['ignore', 'ignore', openSync(join(logDir, `${ns}-app.log`), 'w')],
  });
  const entry = { ns, ip, app };
  namespaces.set(targetPod, entry);
  process.stderr.write(
    `stand-in: pod ${targetPod} runs in network namespace ${ns} at ${ip} (ports ${ports.join(', ')})\n`,
  );
  return entry;
}

export class RealAgent {
  #forward: Server | undefined;
  #exited = false;

  private constructor(private readonly proc: ChildProcess) {}

  static async start(o: RealAgentOptions): Promise<RealAgent> {
    mkdirSync(o.logDir, { recursive: true });
    const { ns, ip } = podNetwork(o.targetPod, o.targetPorts, o.logDir);
    const log = openSync(join(o.logDir, `agent-${ns}-${Date.now()}.log`), 'w');
    const args = ['-l', String(o.port), ...(o.startupTimeoutSeconds ? ['-t', String(o.startupTimeoutSeconds)] : [])];
    const proc = spawn('ip', ['netns', 'exec', ns, o.bin, ...args, 'ephemeral'], {
      env: { ...process.env, ...o.env },
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

  kill(): void {
    this.proc.kill('SIGKILL');
  }

  close(): Promise<void> {
    this.#exited = true;
    this.#forward?.close();
    this.proc.kill('SIGTERM');
    return Promise.resolve();
  }
}

/** Removes the namespaces and apps this process made. */
export function removePodNetworks(): void {
  for (const { ns, app } of namespaces.values()) {
    app.kill();
    spawnSync('ip', ['netns', 'del', ns]);
  }
  namespaces.clear();
}
