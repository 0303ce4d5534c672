import { loadConfig, logLevel, natsSpec, str } from '#shared/config/index.js';

export const policyConfigSpec = {
  ...natsSpec,
  KUBECONFIG: {
    parse: str,
    default: 'in-cluster',
    doc: 'kubeconfig of the cluster whose MirrordPolicy/Profile resources are watched ("in-cluster" for the pod\'s service account)',
  },
  POLICY_KUBE_CONTEXT: { parse: str, default: '', doc: 'kubeconfig context to use (default: its current context)' },
  LOG_LEVEL: { parse: logLevel, default: 'info' as const, doc: 'pino log level' },
  OTEL_EXPORTER_OTLP_ENDPOINT: { parse: str, default: '', doc: 'OTLP/HTTP endpoint for traces' },
};

export const loadPolicyConfig = (env: NodeJS.ProcessEnv = process.env) => loadConfig(policyConfigSpec, env);
