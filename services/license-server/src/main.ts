import { connectNats, natsOptions, isBusDown } from '#shared/nats/index.js';
import { loadLicense } from '#shared/license/load.js';
import { initTelemetry } from '#shared/otel/index.js';
import { runService, setReadiness } from '#shared/service/index.js';
import { redactUrl } from '#shared/log/index.js';
import { VERSION } from '#shared/version.js';
import { buildReportsServer } from './adapters/http/reports.js';
import { Fleet } from './adapters/nats/fleet.js';
import { loadLicenseServerConfig } from './config.js';
import { FleetState } from './domain/fleet-state.js';

/** Below this, the reports key is guessable (warned about, not refused: the seeds use `secret`). */
const WEAK_KEY = 16;

await runService('license-server', async (log) => {
  const cfg = loadLicenseServerConfig();
  log.level = cfg.LOG_LEVEL;
  if (cfg.LICENSE_KEY.length < WEAK_KEY)
    log.warn(
      { length: cfg.LICENSE_KEY.length },
      `LICENSE_KEY (license.key) is shorter than ${WEAK_KEY} characters: anyone who guesses it reads the usage reports; use a random string or a UUID`,
    );
  const license = loadLicense(cfg.OPERATOR_LICENSE_FILE, cfg.OPERATOR_LICENSE_PUBLIC_KEY_FILE)!;
  const otel = initTelemetry('license-server', cfg.OTEL_EXPORTER_OTLP_ENDPOINT || undefined);
  const nc = await connectNats({ ...natsOptions(cfg), name: 'license-server', log });
  const state = new FleetState();
  const fleet = new Fleet(nc, state, { license, log, version: VERSION, localCluster: cfg.CLUSTER_NAME });
  let started = false;
  const ready = () => started && !isBusDown(nc);
  setReadiness(ready);
  // Serves the probes while the fleet stream is folded; reports answer once it is.
  const http = await buildReportsServer({ state, license, key: cfg.LICENSE_KEY, log, ready });
  await http.listen({ host: cfg.LICENSE_SERVER_ADDR.host, port: cfg.LICENSE_SERVER_ADDR.port });
  await fleet.start();
  started = true;
  log.info(
    {
      nats: redactUrl(cfg.NATS_URL),
      addr: `${cfg.LICENSE_SERVER_ADDR.host}:${cfg.LICENSE_SERVER_ADDR.port}`,
      organization: license.organization,
      seats: license.seats ?? null,
      seat_mode: license.seat_mode,
      billing_day: license.billing_day,
    },
    'license-server ready',
  );
  return async () => {
    started = false;
    await http.close();
    await fleet.stop();
    await nc.drain();
    await otel.shutdown();
  };
});
