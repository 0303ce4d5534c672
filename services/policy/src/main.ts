import { loadKubeConfig } from '#shared/kube/config.js';
import { connectNats, natsOptions, isBusDown } from '#shared/nats/index.js';
import { initTelemetry } from '#shared/otel/index.js';
import { runService, setReadiness } from '#shared/service/index.js';
import { redactUrl } from '#shared/log/index.js';
import { VERSION } from '#shared/version.js';
import { GovernanceWatch } from './adapters/kube/governance-watch.js';
import { servePolicy } from './adapters/nats/service.js';
import { loadPolicyConfig } from './config.js';
import { PolicySet } from '#shared/policy/index.js';
import { ProfileSet } from '#shared/policy/index.js';

await runService('policy', async (log) => {
  const cfg = loadPolicyConfig();
  log.level = cfg.LOG_LEVEL;
  const otel = initTelemetry('policy', cfg.OTEL_EXPORTER_OTLP_ENDPOINT || undefined);
  const kc = loadKubeConfig(cfg.KUBECONFIG, cfg.POLICY_KUBE_CONTEXT, 'POLICY_KUBE_CONTEXT');
  const g = { policies: new PolicySet(), profiles: new ProfileSet() };
  const watch = new GovernanceWatch(kc, g, log);
  // Decisions are only served once every policy has been listed: an early answer could
  // allow what a not-yet-loaded policy forbids.
  await watch.start();
  const nc = await connectNats({ ...natsOptions(cfg), name: 'policy', log });
  setReadiness(() => !isBusDown(nc));
  const svc = await servePolicy(nc, g, VERSION, log);
  log.info({ nats: redactUrl(cfg.NATS_URL), policies: g.policies.size, profiles: g.profiles.size }, 'policy ready');
  return async () => {
    await svc.stop();
    await watch.stop();
    await nc.drain();
    await otel.shutdown();
  };
});
