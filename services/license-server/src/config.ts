import { clusterSpec, hostPort, loadConfig, logLevel, natsSpec, str } from '#shared/config/index.js';
import { licenseSpec } from '#shared/license/load.js';

/**
 * The license server runs beside the hub nats-server: NATS_URL is the hub (the clusters' usage
 * arrives there over their leafnodes), the licence is required (seats are counted against it)
 * and LICENSE_KEY guards the reports, as the seed's `license.key`.
 */
export const licenseServerSpec = {
  ...natsSpec,
  // The cluster whose NATS the license server shares, if any (npm start: one NATS for everything).
  ...clusterSpec,
  OPERATOR_LICENSE_FILE: { parse: str, doc: licenseSpec.OPERATOR_LICENSE_FILE.doc },
  OPERATOR_LICENSE_PUBLIC_KEY_FILE: licenseSpec.OPERATOR_LICENSE_PUBLIC_KEY_FILE,
  LICENSE_KEY: {
    // The seeds' values.yaml has `key: secret`: accepted (a short key is warned about at start).
    parse: (raw: string, name: string) => {
      if (!raw.trim()) throw new Error(`${name}: is empty; set it to a random string or a UUID`);
      return raw.trim();
    },
    doc: 'the key report clients send as `x-license-key` (any string of your choosing: a UUID or random characters)',
  },
  LICENSE_SERVER_ADDR: {
    parse: hostPort,
    default: hostPort('0.0.0.0:8080', 'LICENSE_SERVER_ADDR'),
    doc: 'host:port of the reports API, /metrics, /healthz and /readyz',
  },
  LOG_LEVEL: { parse: logLevel, default: 'info' as const, doc: 'pino log level' },
  OTEL_EXPORTER_OTLP_ENDPOINT: { parse: str, default: '', doc: 'OTLP/HTTP endpoint for traces' },
};

export const loadLicenseServerConfig = (env: NodeJS.ProcessEnv = process.env) => loadConfig(licenseServerSpec, env);
