import { openAgentConnectionCert } from '#shared/pki/ca-dir.js';
import { AgentConnector } from './adapters/agent-connection/agent-connector.js';
import { TrafficMetrics } from './adapters/metrics/traffic.js';
import { connectNats, natsOptions } from '#shared/nats/index.js';
import { jiraContracts, request } from '#shared/contracts/index.js';
import { initTelemetry } from '#shared/otel/index.js';
import { runService } from '#shared/service/index.js';
import { redactUrl } from '#shared/log/index.js';
import { VERSION } from '#shared/version.js';
import { StaticTokenAuthenticator } from './adapters/auth/static-token-authenticator.js';
import { DefaultRoleAuthorizer } from './adapters/auth/default-role-authorizer.js';
import { SyntaxTargetResolver } from './adapters/targets/syntax-target-resolver.js';
import { AllowAllPolicy } from './adapters/policy/allow-all-policy.js';
import { NatsSeatGate } from './adapters/nats/seat-gate.js';
import { LedgerClient } from './adapters/nats/ledger-client.js';
import { buildServer } from './adapters/http/server.js';
import { ConnectionRegistry } from './adapters/nats/connection-registry.js';
import { loadLicense } from '#shared/license/load.js';
import { loadGatewayConfig, loadTls, type GatewayConfig, type TlsFiles } from './config.js';
import { X509Certificate } from 'node:crypto';
import type { Authenticator, PolicyEvaluator } from './domain/interfaces.js';
import { NatsPolicy } from './adapters/nats/policy-client.js';
import { startMetricsServer } from './adapters/metrics/server.js';
import type { NatsConnection } from '@nats-io/nats-core';
import { NatsAgents } from './adapters/agent-manager/nats-agents.js';
import { NoAgents } from './adapters/agent-manager/no-agents.js';
import { OperatorCa } from './adapters/pki/operator-ca.js';
import { ClientCertificateAuthenticator, FrontProxyAuthenticator } from './adapters/auth/front-proxy-authenticator.js';
import { loadKubeConfig } from '#shared/kube/config.js';
import { SubjectAccessReviewAuthorizer, TokenReviewAuthenticator } from './adapters/kube/kube-auth.js';
import { KubeTargetResolver } from './adapters/kube/kube-target-resolver.js';
import { KubeVerifiedAgents } from './adapters/kube/kube-agent-verifier.js';
import { NatsQueueSplitter } from './adapters/nats/queue-splitter-client.js';

/** Identity, authorisation and targets: from the cluster, or the embedded token-file default. */
function clusterAccess(cfg: GatewayConfig, tls: TlsFiles | undefined) {
  const inPod = !!process.env.KUBERNETES_SERVICE_HOST;
  const useCluster =
    cfg.GATEWAY_AUTH === 'kubernetes' || (cfg.GATEWAY_AUTH === 'auto' && (cfg.KUBECONFIG !== '' || inPod));
  if (!useCluster)
    return {
      mode: 'token-file' as const,
      authn: StaticTokenAuthenticator.fromFile(cfg.GATEWAY_TOKEN_FILE),
      authz: new DefaultRoleAuthorizer(),
      targets: new SyntaxTargetResolver(),
      agents: (_nc: NatsConnection) => new NoAgents(),
      policy: (_nc: NatsConnection): PolicyEvaluator => new AllowAllPolicy(),
    };
  const kc = loadKubeConfig(cfg.KUBECONFIG || 'in-cluster', cfg.GATEWAY_KUBE_CONTEXT, 'GATEWAY_KUBE_CONTEXT');
  const authz = new SubjectAccessReviewAuthorizer(kc);
  // Front proxy first, then users' client certificates, then bearer tokens (kube-apiserver's order).
  const fp = (pem: string) => new X509Certificate(pem).fingerprint256;
  const allowed = cfg.GATEWAY_REQUESTHEADER_ALLOWED_NAMES.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  let authn: Authenticator = new TokenReviewAuthenticator(kc);
  if (tls?.clientCa) authn = new ClientCertificateAuthenticator(authn, fp(tls.clientCa));
  if (tls?.requestHeaderCa) authn = new FrontProxyAuthenticator(authn, fp(tls.requestHeaderCa), allowed);
  return {
    mode: 'kubernetes' as const,
    authn,
    authz,
    targets: new KubeTargetResolver(kc, authz, cfg.TARGET_READY_TIMEOUT_MS),
    agents: (nc: NatsConnection) => new KubeVerifiedAgents(new NatsAgents(nc), kc),
    policy: (nc: NatsConnection): PolicyEvaluator => new NatsPolicy(nc),
  };
}

await runService('gateway', async (log) => {
  const cfg = loadGatewayConfig();
  log.level = cfg.LOG_LEVEL;
  const otel = initTelemetry('gateway', cfg.OTEL_EXPORTER_OTLP_ENDPOINT || undefined);
  const tls = loadTls(cfg);
  const cluster = clusterAccess(cfg, tls);
  const license = loadLicense(cfg.OPERATOR_LICENSE_FILE, cfg.OPERATOR_LICENSE_PUBLIC_KEY_FILE);
  const https = tls
    ? { key: tls.key, cert: tls.cert, ca: [tls.requestHeaderCa, tls.clientCa].filter((x): x is string => !!x) }
    : undefined;
  const ca = await OperatorCa.open(cfg.OPERATOR_CA_DIR, log);
  // The same certificate agent-manager gives its agents (whichever of the two creates it first).
  const agentTls = cfg.OPERATOR_AGENT_CONNECTION_TLS
    ? await openAgentConnectionCert(cfg.OPERATOR_CA_DIR, () =>
        log.info({ dir: cfg.OPERATOR_CA_DIR }, 'created the agent-connection certificate'),
      )
    : undefined;
  const traffic = new TrafficMetrics();
  const nc = await connectNats({ ...natsOptions(cfg), name: 'gateway', log });
  const ledger = new LedgerClient(nc);
  const seats = cfg.LICENSE_SERVER
    ? new NatsSeatGate(nc, { cluster: cfg.CLUSTER_NAME, allowOverages: cfg.ALLOW_SEAT_OVERAGES, log })
    : undefined;
  seats?.start();
  const registry = new ConnectionRegistry(ledger, log);
  registry.start(nc, cfg.GATEWAY_ACTIVITY_INTERVAL_MS);
  const app = await buildServer({
    log,
    authn: cluster.authn,
    authz: cluster.authz,
    targets: cluster.targets,
    agents: cluster.agents(nc),
    policy: cluster.policy(nc),
    ledger,
    registry,
    ...(cfg.QUEUE_SPLITTING ? { queues: new NatsQueueSplitter(nc) } : {}),
    activityIntervalMs: cfg.GATEWAY_ACTIVITY_INTERVAL_MS,
    limits: {
      filter: { maxLength: cfg.HTTP_FILTER_MAX_LENGTH, maxRepeats: cfg.HTTP_FILTER_MAX_REPEATS },
      messagesPerSecond: cfg.SESSION_MESSAGES_PER_SECOND,
    },
    maxMessageBytes: cfg.PROTOCOL_MAX_MESSAGE_BYTES,
    agentConnector: new AgentConnector(agentTls),
    traffic,
    version: VERSION,
    license,
    ...(seats ? { seats } : {}),
    organization: cfg.OPERATOR_ORGANIZATION,
    defaultNamespace: cfg.OPERATOR_DEFAULT_NAMESPACE,
    ...(https ? { https } : {}),
    ca,
    jira: { retry: () => request(nc, jiraContracts.retry, {}) },
    ready: async () => !nc.isClosed() && (await ledger.ping()),
  });
  const metrics = cfg.OPERATOR_METRICS_ENABLED
    ? await startMetricsServer(cfg.OPERATOR_METRICS_ADDR, nc, ledger, license, log, traffic.registry)
    : undefined;
  await app.listen({ host: cfg.GATEWAY_ADDR.host, port: cfg.GATEWAY_ADDR.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : cfg.GATEWAY_ADDR.port;
  log.info(
    {
      addr: `${cfg.GATEWAY_ADDR.host}:${port}`,
      url: `${https ? 'https' : 'http'}://${cfg.GATEWAY_ADDR.host}:${port}`,
      auth: cluster.mode,
      ...(cluster.mode === 'token-file' ? { token_file: cfg.GATEWAY_TOKEN_FILE } : { kubeconfig: cfg.KUBECONFIG }),
      ...(metrics ? { metrics: metrics.url } : {}),
      ...(seats ? { license_server: redactUrl(cfg.LICENSE_SERVER), cluster: cfg.CLUSTER_NAME } : {}),
    },
    'gateway ready',
  );
  return async () => {
    // Stop accepting, report liveness one last time so no connected session looks idle,
    // then close sockets without ending their sessions (clients may reconnect elsewhere).
    await registry.reportActivity();
    registry.stop();
    seats?.stop();
    for (const ws of app.websocketServer.clients) ws.terminate();
    await app.close();
    await metrics?.stop();
    await nc.drain();
    await otel.shutdown();
  };
});
