import { loadKubeConfig } from '#shared/kube/config.js';
import { connectNats, natsOptions, isBusDown } from '#shared/nats/index.js';
import { initTelemetry } from '#shared/otel/index.js';
import { runService, setReadiness } from '#shared/service/index.js';
import { redactUrl } from '#shared/log/index.js';
import { VERSION } from '#shared/version.js';
import { openAgentConnectionCert } from '#shared/pki/ca-dir.js';
import { Cluster } from './adapters/kube/cluster.js';
import { consumeSessionEnded, ledgerPort, serveAgentManager } from './adapters/nats/service.js';
import { OneAtATime } from './app/agents/one-at-a-time.js';
import { sweepAgents } from './app/agents/sweep-agents.js';
import { sweepIdleCopies } from './app/copy-targets/sweep-idle-copies.js';
import type { AgentManagerDeps } from './app/ports.js';
import { reconcile } from './app/reconcile.js';
import { loadAgentManagerConfig } from './config.js';

await runService('agent-manager', async (log) => {
  const cfg = loadAgentManagerConfig();
  log.level = cfg.LOG_LEVEL;
  const otel = initTelemetry('agent-manager', cfg.OTEL_EXPORTER_OTLP_ENDPOINT || undefined);
  const kc = loadKubeConfig(cfg.KUBECONFIG, cfg.AGENT_MANAGER_KUBE_CONTEXT, 'AGENT_MANAGER_KUBE_CONTEXT');
  const nc = await connectNats({ ...natsOptions(cfg), name: 'agent-manager', log });
  setReadiness(() => !isBusDown(nc));
  const agentTls = cfg.OPERATOR_AGENT_CONNECTION_TLS
    ? await openAgentConnectionCert(cfg.OPERATOR_CA_DIR, () =>
        log.info({ dir: cfg.OPERATOR_CA_DIR }, 'created the agent-connection certificate'),
      )
    : undefined;
  const am: AgentManagerDeps = {
    cluster: new Cluster(kc, cfg.OPERATOR_AGENT_NAMESPACE),
    ledger: ledgerPort(nc),
    log,
    settings: Object.freeze({
      agentNamespace: cfg.OPERATOR_AGENT_NAMESPACE,
      operatorCertPem: agentTls?.certPem,
      copyIdleTtlMs: cfg.OPERATOR_COPY_TARGET_IDLE_TTL * 1000,
      agentIdleTtlMs: cfg.OPERATOR_AGENT_IDLE_TTL * 1000,
    }),
    acquiring: new OneAtATime(),
  };
  // Leftovers of a crash are undone before new work is taken.
  await reconcile(am);
  const cleanup = await consumeSessionEnded(nc, am, log);
  const svc = await serveAgentManager(nc, am, VERSION, log);
  const sweeper = setInterval(() => {
    void sweepIdleCopies(am).catch((err: unknown) => log.warn({ err }, 'idle copy sweep failed'));
    void sweepAgents(am).catch((err: unknown) => log.warn({ err }, 'idle agent sweep failed'));
  }, 2000);
  log.info({ nats: redactUrl(cfg.NATS_URL), agent_namespace: cfg.OPERATOR_AGENT_NAMESPACE }, 'agent-manager ready');
  return async () => {
    clearInterval(sweeper);
    await svc.stop();
    await cleanup.close();
    await nc.drain();
    await otel.shutdown();
  };
});
