import { connectNats } from '../../../shared/src/nats/index.js';
import { initTelemetry } from '../../../shared/src/otel/index.js';
import { runService } from '../../../shared/src/service/index.js';
import { VERSION } from '../../../shared/src/version.js';
import { StaticTokenAuthenticator } from './adapters/auth/static-token-authenticator.js';
import { DefaultRoleAuthorizer } from './adapters/auth/default-role-authorizer.js';
import { SyntaxTargetResolver } from './adapters/targets/syntax-target-resolver.js';
import { AllowAllPolicy } from './adapters/policy/allow-all-policy.js';
import { LedgerClient } from './adapters/nats/ledger-client.js';
import { buildServer } from './adapters/http/server.js';
import { ConnectionRegistry } from './connections.js';
import { loadGatewayConfig, loadLicense } from './config.js';

await runService('gateway', async (log) => {
  const cfg = loadGatewayConfig();
  log.level = cfg.LOG_LEVEL;
  const otel = initTelemetry('gateway', cfg.OTEL_EXPORTER_OTLP_ENDPOINT || undefined);
  const authn = StaticTokenAuthenticator.fromFile(cfg.GATEWAY_TOKEN_FILE);
  const license = loadLicense(cfg.OPERATOR_LICENSE_FILE);
  const nc = await connectNats({ url: cfg.NATS_URL, name: 'gateway', log });
  const ledger = new LedgerClient(nc);
  const registry = new ConnectionRegistry(ledger, log);
  registry.start(nc, cfg.GATEWAY_ACTIVITY_INTERVAL_MS);
  const app = await buildServer({
    log,
    authn,
    authz: new DefaultRoleAuthorizer(),
    targets: new SyntaxTargetResolver(),
    policy: new AllowAllPolicy(),
    ledger,
    registry,
    version: VERSION,
    license,
    defaultNamespace: cfg.OPERATOR_DEFAULT_NAMESPACE,
    ready: async () => !nc.isClosed() && (await ledger.ping()),
  });
  await app.listen({ host: cfg.GATEWAY_ADDR.host, port: cfg.GATEWAY_ADDR.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : cfg.GATEWAY_ADDR.port;
  log.info({ addr: `${cfg.GATEWAY_ADDR.host}:${port}`, url: `http://${cfg.GATEWAY_ADDR.host}:${port}`, token_file: cfg.GATEWAY_TOKEN_FILE }, 'gateway ready');
  return async () => {
    // Stop accepting, report liveness one last time so no connected session looks idle,
    // then close sockets without ending their sessions (clients may reconnect elsewhere).
    await registry.reportActivity();
    registry.stop();
    for (const ws of app.websocketServer.clients) ws.terminate();
    await app.close();
    await nc.drain();
    await otel.shutdown();
  };
});
