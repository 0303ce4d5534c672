/**
 * The demo's message brokers: ElasticMQ (SQS) and Kafka from the jars `npm run brokers:fetch`
 * puts in the cache, started as the queue-splitting tests start them, with the queues and the
 * topic the demo's consumers read. Their endpoints go to data/demo-brokers.json, which
 * `npm run demo:send` / `demo:receive` and the demo consumer read.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { BROKERS_FETCH_COMMAND, brokerJars } from '../brokers.js';
import { startSqs } from '../../test/support/sqs-server.js';
import { startKafka } from '../../test/support/kafka-broker.js';

/** Where the running demo's broker endpoints are written (removed when the demo stops). */
export const DEMO_BROKERS_FILE = resolve(fileURLToPath(new URL('../../', import.meta.url)), 'data/demo-brokers.json');

export interface DemoBrokerEndpoints {
  /** ElasticMQ's SQS endpoint, `http://127.0.0.1:<port>`. */
  sqsEndpoint: string;
  /** Kafka's bootstrap servers. */
  kafkaBrokers: string[];
}

export interface DemoBrokers extends DemoBrokerEndpoints {
  stop(): Promise<void>;
}

/** The SQS queues and Kafka topic the demo's Deployments consume (test/e2e uses the same names). */
const SQS_QUEUES = ['orders', 'audit'];
const KAFKA_TOPIC = 'payments';

/** Why the demo cannot run the brokers (no Java, no jars), or undefined when it can; the caller says how to fix it. */
export function brokersMissing(): string | undefined {
  const java = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (java.error || java.status !== 0) return 'no Java 17+ on PATH (apt-get install openjdk-17-jre-headless)';
  try {
    brokerJars('elasticmq');
    brokerJars('kafka');
  } catch {
    return `the ElasticMQ and Kafka jars are not fetched`;
  }
  return undefined;
}

/** Starts both brokers, creates the demo's queues and topic, writes DEMO_BROKERS_FILE. */
export async function startDemoBrokers(): Promise<DemoBrokers> {
  const [sqs, kafka] = await Promise.all([startSqs(), startKafka()]);
  const stop = async () => {
    rmSync(DEMO_BROKERS_FILE, { force: true });
    await Promise.all([sqs[Symbol.asyncDispose](), kafka[Symbol.asyncDispose]()]);
  };
  try {
    const client = sqs.client();
    for (const q of SQS_QUEUES) await client.send(new CreateQueueCommand({ QueueName: q }));
    const admin = kafka.client().admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: KAFKA_TOPIC, numPartitions: 3 }], waitForLeaders: true });
    await admin.disconnect();
  } catch (e) {
    await stop();
    throw e;
  }
  const endpoints: DemoBrokerEndpoints = { sqsEndpoint: sqs.endpoint, kafkaBrokers: kafka.brokers };
  writeFileSync(DEMO_BROKERS_FILE, `${JSON.stringify(endpoints, null, 2)}\n`);
  return { ...endpoints, stop };
}

/** The running demo's endpoints, or an error saying how to start a demo that has them. */
export function readDemoBrokers(): DemoBrokerEndpoints {
  try {
    return JSON.parse(readFileSync(DEMO_BROKERS_FILE, 'utf8')) as DemoBrokerEndpoints;
  } catch {
    throw new Error(
      `no demo brokers (${DEMO_BROKERS_FILE} is missing): start the demo with \`npm run start:demo\`; queue splitting needs Java and \`${BROKERS_FETCH_COMMAND}\``,
    );
  }
}
