/**
 * A kafkajs client from the client properties of a `MirrordKafkaClientConfig` (`properties:
 * [{name, value | null}]`). The mirrord operator hands them to librdkafka, so both the Java names
 * (`sasl.jaas.config`) and the librdkafka ones (`sasl.username`, `ssl.ca.location`) are read.
 * Anything kafkajs has no equivalent for is returned in `ignored`, for the caller to log: a client
 * tuned for the JVM still connects here, and the user sees what had no effect.
 */
import { readFileSync } from 'node:fs';
import { Kafka, type KafkaConfig, type SASLOptions } from 'kafkajs';
import { invalid } from '#shared/errors/index.js';

export interface KafkaClientProperty {
  name: string;
  /** `null`: removed (a child config dropping what its parent set). */
  value: string | null;
}

export interface KafkaClientConfig {
  config: KafkaConfig;
  /** Property names that were set but mean nothing to kafkajs (or to a forwarder that sets them itself). */
  ignored: string[];
}

const PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;
type Protocol = (typeof PROTOCOLS)[number];
const MECHANISMS = { PLAIN: 'plain', 'SCRAM-SHA-256': 'scram-sha-256', 'SCRAM-SHA-512': 'scram-sha-512' } as const;

/** Properties read below; every other name set lands in `ignored`. */
const KNOWN = new Set([
  'bootstrap.servers',
  'metadata.broker.list',
  'client.id',
  'security.protocol',
  'sasl.mechanism',
  'sasl.mechanisms',
  'sasl.jaas.config',
  'sasl.username',
  'sasl.password',
  'ssl.ca.location',
  'ssl.ca.pem',
  'ssl.certificate.location',
  'ssl.certificate.pem',
  'ssl.key.location',
  'ssl.key.pem',
  'ssl.key.password',
  'enable.ssl.certificate.verification',
  'request.timeout.ms',
  'socket.connection.setup.timeout.ms',
]);

/** Builds the kafkajs configuration; throws `Invalid` naming the property and the fix. */
export function kafkaConfigFrom(props: readonly KafkaClientProperty[], clientId: string): KafkaClientConfig {
  // Later entries win (a child config's properties come after its parent's); null removes.
  const set = new Map<string, string>();
  for (const { name, value } of props) {
    if (value === null) set.delete(name);
    else set.set(name, value);
  }
  const get = (name: string): string | undefined => set.get(name);
  const ignored = [...set.keys()].filter((name) => !KNOWN.has(name));

  const servers = get('bootstrap.servers') ?? get('metadata.broker.list');
  const brokers = (servers ?? '')
    .split(',')
    .map((s) => s.trim().replace(/^[A-Z_]+:\/\//, ''))
    .filter(Boolean);
  if (brokers.length === 0)
    throw invalid('bootstrap.servers', 'no broker address', 'set it to host:port[,host:port…] in the client config');
  for (const b of brokers)
    if (!/^[^:\s]+:\d+$/.test(b)) throw invalid('bootstrap.servers', `"${b}" is not host:port`, 'e.g. kafka:9092');

  const protocol = (get('security.protocol') ?? 'PLAINTEXT').toUpperCase() as Protocol;
  if (!PROTOCOLS.includes(protocol))
    throw invalid(
      'security.protocol',
      `unsupported value "${get('security.protocol')}"`,
      `use ${PROTOCOLS.join(', ')}`,
    );

  const config: KafkaConfig = { clientId: get('client.id') ?? clientId, brokers };
  const requestTimeout = msOf(get, 'request.timeout.ms');
  if (requestTimeout !== undefined) config.requestTimeout = requestTimeout;
  const connectionTimeout = msOf(get, 'socket.connection.setup.timeout.ms');
  if (connectionTimeout !== undefined) config.connectionTimeout = connectionTimeout;
  if (protocol === 'SSL' || protocol === 'SASL_SSL') config.ssl = tlsOf(get);
  if (protocol === 'SASL_PLAINTEXT' || protocol === 'SASL_SSL') config.sasl = saslOf(get);
  return { config, ignored };
}

/** `kafkaConfigFrom`, then the client itself; the caller logs `ignored`. */
export function kafkaFrom(
  props: readonly KafkaClientProperty[],
  clientId: string,
  /** What the properties do not say: the service's `logCreator`, retry policy. */
  more: Partial<KafkaConfig> = {},
): { kafka: Kafka; ignored: string[] } {
  const { config, ignored } = kafkaConfigFrom(props, clientId);
  return { kafka: new Kafka({ ...more, ...config }), ignored };
}

function msOf(get: (n: string) => string | undefined, name: string): number | undefined {
  const v = get(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw invalid(name, `"${v}" is not a positive number of milliseconds`);
  return n;
}

function saslOf(get: (n: string) => string | undefined): SASLOptions {
  const raw = get('sasl.mechanism') ?? get('sasl.mechanisms') ?? 'PLAIN';
  const mechanism = MECHANISMS[raw.toUpperCase() as keyof typeof MECHANISMS];
  if (!mechanism)
    throw invalid(
      'sasl.mechanism',
      `unsupported mechanism "${raw}"`,
      `use ${Object.keys(MECHANISMS).join(', ')} (GSSAPI, OAUTHBEARER and AWS_MSK_IAM are not supported)`,
    );
  // The JVM form: `…LoginModule required username="u" password="p";` (quotes optional).
  const jaas = get('sasl.jaas.config') ?? '';
  const fromJaas = (key: string): string | undefined =>
    new RegExp(`\\b${key}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^\\s;]+))`)
      .exec(jaas)
      ?.slice(1)
      .find((v) => v !== undefined);
  const username = get('sasl.username') ?? fromJaas('username');
  const password = get('sasl.password') ?? fromJaas('password');
  if (username === undefined || password === undefined)
    throw invalid(
      'sasl.jaas.config',
      `SASL ${raw} needs a username and a password`,
      'set sasl.jaas.config (…LoginModule required username="…" password="…";) or sasl.username and sasl.password',
    );
  return { mechanism, username, password } as SASLOptions;
}

function tlsOf(get: (n: string) => string | undefined): KafkaConfig['ssl'] {
  const pem = (name: string, location: string): string | undefined => {
    const inline = get(name);
    if (inline !== undefined) return inline;
    const path = get(location);
    if (path === undefined) return undefined;
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      throw invalid(
        location,
        `cannot read ${path}: ${(e as Error).message}`,
        'mount the file or use the *.pem property',
      );
    }
  };
  const ca = pem('ssl.ca.pem', 'ssl.ca.location');
  const cert = pem('ssl.certificate.pem', 'ssl.certificate.location');
  const key = pem('ssl.key.pem', 'ssl.key.location');
  const passphrase = get('ssl.key.password');
  const verify = get('enable.ssl.certificate.verification');
  if (verify !== undefined && verify !== 'true' && verify !== 'false')
    throw invalid('enable.ssl.certificate.verification', `"${verify}" is not true or false`);
  return {
    ...(ca !== undefined ? { ca: [ca] } : {}),
    ...(cert !== undefined ? { cert } : {}),
    ...(key !== undefined ? { key } : {}),
    ...(passphrase !== undefined ? { passphrase } : {}),
    rejectUnauthorized: verify !== 'false',
  };
}
