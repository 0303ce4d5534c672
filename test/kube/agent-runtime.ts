import type { KubeObject } from './registry.js';
import { TestAgent } from '../agent/test-agent.js';
import { RealAgent, removePodNetworks } from './real-agent.js';

interface ContainerSpec {
  name: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string }>;
  targetContainerName?: string;
}

const envOf = (c: ContainerSpec | undefined): Record<string, string> =>
  Object.fromEntries((c?.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));

/** Is this container a mirrord agent (by its command, as agent-manager writes it)? */
export const isAgentContainer = (c: ContainerSpec): boolean => (c.command?.[0] ?? '').endsWith('mirrord-agent');

/**
 * The stand-in's container runtime for agents: where a pod runs a `mirrord-agent` container
 * (a Job's, or an ephemeral container in the target pod), a protocol-speaking test agent
 * listens at the pod's IP and the port from `-l`, with the operator certificate from
 * `AGENT_OPERATOR_CERT_ENV` and the target container's environment. Deleting the pod stops it.
 */
export class AgentRuntime {
  readonly agents = new Map<string, TestAgent>();
  /** Real `mirrord-agent` processes, when MIRRORD_AGENT_BIN names the binary. */
  readonly real = new Map<string, RealAgent>();
  readonly #starting = new Set<string>();
  /** Agents whose process ended: a terminated container is not started again. */
  readonly #exited = new Set<string>();

  constructor(
    private readonly pods: () => KubeObject[],
    /** The demo: agents serve their target's subscribed ports at the target pod's IP. */
    private readonly serveTargetPorts = false,
    /** The kubelet's part when an agent process ends: its container (and a Job's pod) terminates. */
    private readonly exited: (pod: KubeObject, container: string, code: number) => void = () => undefined,
    /** The cluster's DNS for a pod in a namespace (Services by name). */
    private readonly clusterDns: (name: string, ns: string) => { fqdn: string; ips: string[] } | undefined = () =>
      undefined,
  ) {}

  /** The target container's env and pod IP: the pod whose container status carries this id (`targeted`), or its own. */
  #target(c: ContainerSpec, pod: KubeObject): { env: Record<string, string>; ip: string | undefined; pod: KubeObject } {
    const cmd = c.command ?? [];
    const i = cmd.indexOf('--container-id');
    const id = i >= 0 ? cmd[i + 1] : envOf(c).MIRRORD_AGENT_EPHEMERAL_TARGET_CONTAINER_ID;
    for (const p of id ? this.pods() : []) {
      const st = (p.status?.containerStatuses as Array<{ name: string; containerID?: string }> | undefined)?.find((s) =>
        s.containerID?.endsWith(`://${id}`),
      );
      if (st)
        return {
          env: envOf((p.spec?.containers as ContainerSpec[] | undefined)?.find((x) => x.name === st.name)),
          ip: p.status?.podIP as string | undefined,
          pod: p,
        };
    }
    const sibling = (pod.spec?.containers as ContainerSpec[] | undefined)?.find(
      (x) => x.name === c.targetContainerName,
    );
    return { env: envOf(sibling), ip: sibling ? (pod.status?.podIP as string | undefined) : undefined, pod };
  }

  /** Starts the agent of a container once (idempotent); `ip` is the pod's. */
  ensure(pod: KubeObject, c: ContainerSpec, ip: string): void {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}/${c.name}`;
    if (this.agents.has(key) || this.#starting.has(key) || this.#exited.has(key)) return;
    const cmd = c.command ?? [];
    const l = cmd.indexOf('-l');
    const port = l >= 0 ? Number(cmd[l + 1]) : 44128;
    const t = cmd.indexOf('-t');
    const idleTtl = envOf(c).MIRRORD_AGENT_IDLE_TTL;
    const mode = cmd.includes('targeted') ? 'targeted' : cmd.includes('ephemeral') ? 'ephemeral' : 'targetless';
    const cert = envOf(c).AGENT_OPERATOR_CERT_ENV;
    this.#starting.add(key);
    const target = this.#target(c, pod);
    const onExit = (code: number) => {
      this.agents.delete(key);
      this.real.delete(key);
      this.#exited.add(key);
      this.exited(pod, c.name, code);
    };
    if (process.env.MIRRORD_AGENT_BIN) {
      const ports = ((target.pod.spec?.containers as Array<{ ports?: Array<{ containerPort: number }> }>) ?? [])
        .flatMap((x) => x.ports ?? [])
        .map((x) => x.containerPort);
      void RealAgent.start({
        bin: process.env.MIRRORD_AGENT_BIN,
        targetPod: `${target.pod.metadata.namespace}/${target.pod.metadata.name}`,
        targetPorts: ports.length ? ports : [80],
        targetEnv: target.env,
        listenHost: ip,
        port,
        ...(t >= 0 ? { startupTimeoutSeconds: Number(cmd[t + 1]) } : {}),
        env: {
          ...(cert ? { AGENT_OPERATOR_CERT_ENV: cert } : {}),
          ...(idleTtl ? { MIRRORD_AGENT_IDLE_TTL: idleTtl } : {}),
          RUST_LOG: envOf(c).RUST_LOG ?? 'info',
        },
        logDir: process.env.MIRRORD_AGENT_LOG_DIR ?? 'data/agents',
        ...(process.env.MIRRORD_AGENT_CAPTURE_DIR ? { captureDir: process.env.MIRRORD_AGENT_CAPTURE_DIR } : {}),
        onExit,
      })
        .then((a) => this.real.set(key, a))
        .catch((err: unknown) => console.error(`stand-in: real agent ${key} did not start: ${String(err)}`))
        .finally(() => this.#starting.delete(key));
      return;
    }
    void TestAgent.start({
      host: ip,
      port,
      mode,
      env: target.env,
      resolve: (name) => this.clusterDns(name, String(target.pod.metadata.namespace)),
      ...(this.serveTargetPorts && target.ip ? { serveTargetPortsAt: target.ip } : {}),
      ...(cert ? { operatorCertPem: cert } : {}),
      ...(t >= 0 ? { startupTimeoutSeconds: Number(cmd[t + 1]) } : {}),
      ...(idleTtl ? { idleTtlSeconds: Number(idleTtl) } : {}),
      onExit,
    })
      .then((a) => this.agents.set(key, a))
      .catch((err: unknown) => console.error(`stand-in: agent ${key} did not start: ${String(err)}`))
      .finally(() => this.#starting.delete(key));
  }

  /** Stops agents whose pod is gone. */
  sync(live: KubeObject[]): void {
    const keep = new Set(live.map((p) => `${p.metadata.namespace}/${p.metadata.name}/`));
    for (const running of [this.agents, this.real])
      for (const [key, a] of running)
        if (![...keep].some((k) => key.startsWith(k))) {
          running.delete(key);
          void a.close();
        }
  }

  /** The running agent of a pod (the first, when it has several). */
  of(podName: string): TestAgent | undefined {
    for (const [key, a] of this.agents) if (key.split('/')[1] === podName) return a;
    return undefined;
  }

  async close(): Promise<void> {
    await Promise.all([...this.agents.values(), ...this.real.values()].map((a) => a.close()));
    this.agents.clear();
    this.real.clear();
    removePodNetworks();
  }
}
