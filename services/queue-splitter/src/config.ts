import { bool, int, loadConfig, logLevel, natsSpec, str } from '#shared/config/index.js';

export const queueSplitterConfigSpec = {
  ...natsSpec,
  KUBECONFIG: {
    parse: str,
    default: 'in-cluster',
    doc: 'kubeconfig of the cluster ("in-cluster" for the pod\'s service account)',
  },
  QUEUE_SPLITTER_KUBE_CONTEXT: {
    parse: str,
    default: '',
    doc: 'kubeconfig context to use (default: its current context)',
  },
  OPERATOR_NAMESPACE: {
    parse: str,
    default: 'mirrord',
    doc: "the operator's namespace, where MirrordKafkaClientConfig resources are read",
  },
  SQS_ENDPOINT: {
    parse: str,
    default: '',
    doc: 'SQS endpoint override (ElasticMQ, LocalStack); empty: AWS (credentials from the SDK default chain)',
  },
  AWS_REGION: { parse: str, default: '', doc: 'AWS region of the SQS queues (us-east-1 with SQS_ENDPOINT)' },
  QUEUE_SPLITTING_SQS: {
    parse: bool,
    default: false,
    doc: 'split SQS queues (needs AWS credentials or SQS_ENDPOINT); Kafka needs no switch, its brokers come from MirrordKafkaClientConfig',
  },
  QUEUE_SQS_VISIBILITY_TIMEOUT: {
    parse: int(1, 43_200),
    default: 30,
    doc: "seconds a message the forwarder received stays hidden in the original SQS queue: a crashed forwarder's messages in hand are handed out again after this long",
  },
  QUEUE_DRAIN_TIMEOUT: {
    parse: int(0, 3600),
    default: 60,
    doc: "seconds the last session's workload may take to empty its fallback queue before it is restored anyway (leftovers go back to the original)",
  },
  QUEUE_SPLITTER_METRICS_ADDR: { parse: str, default: '', doc: 'host:port of /metrics (empty: off)' },
  LOG_LEVEL: { parse: logLevel, default: 'info' as const, doc: 'pino log level' },
  OTEL_EXPORTER_OTLP_ENDPOINT: { parse: str, default: '', doc: 'OTLP/HTTP endpoint for traces' },
};

export const loadQueueSplitterConfig = (env: NodeJS.ProcessEnv = process.env) =>
  loadConfig(queueSplitterConfigSpec, env);
