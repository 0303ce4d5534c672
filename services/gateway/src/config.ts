import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bool, clusterSpec, hostPort, int, loadConfig, logLevel, natsSpec, oneOf, str } from '#shared/config/index.js';
import { licenseSpec } from '#shared/license/load.js';
import { invalid } from '#shared/errors/index.js';

export const SAMPLE_TOKEN_FILE = fileURLToPath(import.meta.resolve('#deploy/sample/tokens.csv'));

export const gatewayConfigSpec = {
  GATEWAY_ADDR: { parse: hostPort, default: { host: '127.0.0.1', port: 8080 }, doc: 'HTTP listen address host:port' },
  GATEWAY_AUTH: {
    parse: oneOf('auto', 'kubernetes', 'token-file'),
    default: 'auto' as const,
    doc: 'who authenticates and authorises: the cluster (TokenReview/SubjectAccessReview) or GATEWAY_TOKEN_FILE; auto = the cluster when KUBECONFIG is set or running in a pod',
  },
  KUBECONFIG: {
    parse: str,
    default: '',
    doc: 'kubeconfig of the cluster the gateway serves ("in-cluster" for the pod\'s service account)',
  },
  GATEWAY_KUBE_CONTEXT: { parse: str, default: '', doc: 'kubeconfig context to use (default: its current context)' },
  GATEWAY_TLS_CERT_FILE: {
    parse: str,
    default: '',
    doc: 'serve HTTPS with this certificate (PEM); needed as an aggregated API server',
  },
  GATEWAY_TLS_KEY_FILE: { parse: str, default: '', doc: 'the key of GATEWAY_TLS_CERT_FILE' },
  GATEWAY_REQUESTHEADER_CA_FILE: {
    parse: str,
    default: '',
    doc: "aggregated mode: CA of kube-apiserver's front-proxy client certificate; X-Remote-User is trusted only from it",
  },
  GATEWAY_CLIENT_CA_FILE: {
    parse: str,
    default: '',
    doc: "CA of users' client certificates (kube-apiserver --client-ca-file): CN is the user, O the groups",
  },
  GATEWAY_REQUESTHEADER_ALLOWED_NAMES: {
    parse: str,
    default: '',
    doc: 'comma-separated CNs allowed as front proxy (empty: any the CA signed)',
  },
  OPERATOR_CA_DIR: {
    parse: str,
    default: './data/operator-ca',
    doc: 'the operator CA (ca.crt, ca.key) that signs plugin certificates; created there on first start',
  },
  GATEWAY_TOKEN_FILE: { parse: str, default: SAMPLE_TOKEN_FILE, doc: 'kube-apiserver style token CSV' },
  ...natsSpec,
  GATEWAY_ACTIVITY_INTERVAL_MS: { parse: int(200, 60_000), default: 3000, doc: 'liveness report period' },
  TARGET_READY_TIMEOUT_MS: {
    parse: int(1000, 600_000),
    default: 20_000,
    doc: 'how long a session start waits for a target pod to become ready (starting, rolling) before a lasting 409 naming its state',
  },
  PROTOCOL_MAX_MESSAGE_BYTES: {
    parse: int(1024, 1024 * 1024 * 1024),
    default: 16 * 1024 * 1024,
    doc: 'largest mirrord-protocol message relayed either way; a larger one closes that connection only. A client socket may leave this + 2 MiB unread before it closes 1008',
  },
  OPERATOR_AGENT_CONNECTION_TLS: {
    parse: bool,
    default: true,
    doc: "operator–agent TLS (seed name): serve the agent connection's TLS with OPERATOR_CA_DIR/agent-connection.crt",
  },
  OPERATOR_METRICS_ENABLED: { parse: bool, default: false, doc: 'serve Prometheus metrics (seed name)' },
  OPERATOR_METRICS_ADDR: {
    parse: hostPort,
    default: { host: '0.0.0.0', port: 9000 },
    doc: 'metrics listen address; path /metrics',
  },
  ...licenseSpec,
  ...clusterSpec,
  LICENSE_SERVER: {
    parse: str,
    default: '',
    doc: "the license hub this cluster's nats-server dials as a leafnode (nats-leaf://host:7422); set: every new seat is admitted by the license server, an unreachable one admits it as unverified",
  },
  QUEUE_SPLITTING: {
    parse: bool,
    default: false,
    doc: 'the queue splitter runs: sessions may split SQS queues and Kafka topics (feature.split_queues), and the operator advertises it to the CLI',
  },
  ALLOW_SEAT_OVERAGES: {
    parse: bool,
    default: true,
    doc: 'with LICENSE_SERVER: a new seat past the licensed count is admitted and recorded as an overage (false: refused with MaxSeatCountReached)',
  },
  OPERATOR_ORGANIZATION: {
    parse: str,
    default: 'mirrord-teams',
    doc: 'organisation of the open licence published when OPERATOR_LICENSE_FILE is unset (the mirrord CLI requires a licence)',
  },
  OPERATOR_DEFAULT_NAMESPACE: { parse: str, default: 'default', doc: 'namespace used when none is given' },
  HTTP_FILTER_MAX_LENGTH: {
    parse: int(16, 65_536),
    default: 2048,
    doc: 'characters of one HTTP filter (each pattern and the rendered whole)',
  },
  HTTP_FILTER_MAX_REPEATS: {
    parse: int(1, 1000),
    default: 25,
    doc: 'quantifiers per filter pattern; nested repetition is always refused',
  },
  SESSION_MESSAGES_PER_SECOND: {
    parse: int(1, 100_000),
    default: 20,
    doc: 'subscriptions (and refused connects recorded) one session may ask per second, all its sockets on a gateway together (burst of the same size)',
  },
  LOG_LEVEL: { parse: logLevel, default: 'info' as const, doc: 'pino log level' },
  OTEL_EXPORTER_OTLP_ENDPOINT: { parse: str, default: '', doc: 'OTLP/HTTP endpoint for traces' },
};

export const loadGatewayConfig = (env: NodeJS.ProcessEnv = process.env) => loadConfig(gatewayConfigSpec, env);
export type GatewayConfig = ReturnType<typeof loadGatewayConfig>;

/** HTTPS material from the GATEWAY_TLS_* / GATEWAY_REQUESTHEADER_CA_FILE files, or undefined for plain HTTP. */
export interface TlsFiles {
  key: string;
  cert: string;
  /** kube-apiserver's front-proxy CA (aggregated mode). */
  requestHeaderCa?: string;
  /** The cluster's client CA (users' certificates). */
  clientCa?: string;
}

/** HTTPS material from the GATEWAY_TLS_* / *_CA_FILE files, or undefined for plain HTTP. */
export function loadTls(cfg: GatewayConfig): TlsFiles | undefined {
  const read = (name: string, path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      throw invalid(name, `cannot read "${path}": ${(e as Error).message}`);
    }
  };
  if (!cfg.GATEWAY_TLS_CERT_FILE && !cfg.GATEWAY_TLS_KEY_FILE) {
    for (const k of ['GATEWAY_REQUESTHEADER_CA_FILE', 'GATEWAY_CLIENT_CA_FILE'] as const)
      if (cfg[k]) throw invalid(k, 'needs HTTPS', 'set GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE too');
    return undefined;
  }
  if (!cfg.GATEWAY_TLS_CERT_FILE || !cfg.GATEWAY_TLS_KEY_FILE)
    throw invalid(
      cfg.GATEWAY_TLS_CERT_FILE ? 'GATEWAY_TLS_KEY_FILE' : 'GATEWAY_TLS_CERT_FILE',
      'is required with the other',
      'set both, or neither for plain HTTP',
    );
  return {
    cert: read('GATEWAY_TLS_CERT_FILE', cfg.GATEWAY_TLS_CERT_FILE),
    key: read('GATEWAY_TLS_KEY_FILE', cfg.GATEWAY_TLS_KEY_FILE),
    ...(cfg.GATEWAY_REQUESTHEADER_CA_FILE
      ? { requestHeaderCa: read('GATEWAY_REQUESTHEADER_CA_FILE', cfg.GATEWAY_REQUESTHEADER_CA_FILE) }
      : {}),
    ...(cfg.GATEWAY_CLIENT_CA_FILE ? { clientCa: read('GATEWAY_CLIENT_CA_FILE', cfg.GATEWAY_CLIENT_CA_FILE) } : {}),
  };
}
