import { connectNats, natsOptions, isBusDown } from '#shared/nats/index.js';
import { initTelemetry } from '#shared/otel/index.js';
import { runService, setReadiness } from '#shared/service/index.js';
import { redactUrl } from '#shared/log/index.js';
import { VERSION } from '#shared/version.js';
import { runReporter } from './adapters/nats/reporter.js';
import { serveJiraReporter } from './adapters/nats/service.js';
import { loadJiraConfig } from './config.js';

await runService('jira-reporter', async (log) => {
  const cfg = loadJiraConfig();
  log.level = cfg.LOG_LEVEL;
  const otel = initTelemetry('jira-reporter', cfg.OTEL_EXPORTER_OTLP_ENDPOINT || undefined);
  const nc = await connectNats({ ...natsOptions(cfg), name: 'jira-reporter', log });
  setReadiness(() => !isBusDown(nc));
  if (cfg.JIRA_WEBTRIGGER_URL === '') {
    log.info('JIRA_WEBTRIGGER_URL is not set: Jira reporting is off');
    return async () => {
      await nc.drain();
      await otel.shutdown();
    };
  }
  const msgs = await runReporter(nc, cfg, log);
  const svc = await serveJiraReporter(nc, cfg, log, VERSION);
  log.info(
    {
      nats: redactUrl(cfg.NATS_URL),
      webtrigger: new URL(cfg.JIRA_WEBTRIGGER_URL).host,
      retry_for_ms: cfg.JIRA_RETRY_FOR,
    },
    'jira-reporter ready',
  );
  return async () => {
    await svc.stop();
    await msgs.close();
    await nc.drain();
    await otel.shutdown();
  };
});
