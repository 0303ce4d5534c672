import { bool, int, loadConfig, logLevel, natsSpec, str } from '#shared/config/index.js';

export const agentManagerConfigSpec = {
  ...natsSpec,
  KUBECONFIG: {
    parse: str,
    default: 'in-cluster',
    doc: 'kubeconfig of the cluster ("in-cluster" for the pod\'s service account)',
  },
  AGENT_MANAGER_KUBE_CONTEXT: {
    parse: str,
    default: '',
    doc: 'kubeconfig context to use (default: its current context)',
  },
  OPERATOR_AGENT_NAMESPACE: {
    parse: str,
    default: 'mirrord',
    doc: 'namespace of agent Jobs (agent.namespace overrides per session)',
  },
  OPERATOR_AGENT_CONNECTION_TLS: {
    parse: bool,
    default: true,
    doc: "operator–agent TLS (seed name): agents trust the operator's agent-connection certificate (OPERATOR_CA_DIR/agent-connection.crt) and the gateway serves TLS with it",
  },
  OPERATOR_CA_DIR: {
    parse: str,
    default: './data/operator-ca',
    doc: 'the operator CA and agent-connection certificate, shared with the gateway',
  },
  OPERATOR_COPY_TARGET_IDLE_TTL: {
    parse: int(0, 86_400),
    default: 60,
    doc: "seconds a copy outlives its session, to be reused by the same user's identical next one (0: deleted with the session)",
  },
  OPERATOR_AGENT_IDLE_TTL: {
    parse: int(0, 86_400),
    default: 60,
    doc: 'seconds an agent (one per target, shared by its sessions) outlives its last session, for the next one on that target (0: deleted with it)',
  },
  LOG_LEVEL: { parse: logLevel, default: 'info' as const, doc: 'pino log level' },
  OTEL_EXPORTER_OTLP_ENDPOINT: { parse: str, default: '', doc: 'OTLP/HTTP endpoint for traces' },
};

export const loadAgentManagerConfig = (env: NodeJS.ProcessEnv = process.env) => loadConfig(agentManagerConfigSpec, env);
