import { randomBytes, randomInt } from 'node:crypto';
import { loadKubeConfig } from '#shared/kube/config.js';
import { connectNats, isBusDown, natsOptions } from '#shared/nats/index.js';
import { initTelemetry } from '#shared/otel/index.js';
import { redactUrl } from '#shared/log/index.js';
import { runService, setReadiness } from '#shared/service/index.js';
import { VERSION } from '#shared/version.js';
import { ClusterBrokers } from './adapters/brokers.js';
import { KubeCluster } from './adapters/kube/cluster.js';
import { KafkaClientConfigs } from './adapters/kube/kafka-configs.js';
import { KubeSplitObjects } from './adapters/kube/split-objects.js';
import { SplitterMetrics } from './adapters/metrics.js';
import { consumeSessionEnded, ledgerPort, serveQueueSplitter } from './adapters/nats/service.js';
import { KvSplitStore } from './adapters/nats/split-store.js';
import { sqsClientFrom } from './adapters/sqs/sqs-broker.js';
import { Forwarders } from './app/forwarders.js';
import { SplitService } from './app/split-service.js';
import { loadQueueSplitterConfig } from './config.js';

await runService('queue-splitter', async (log) => {
  const cfg = loadQueueSplitterConfig();
  log.level = cfg.LOG_LEVEL;
  const otel = initTelemetry('queue-splitter', cfg.OTEL_EXPORTER_OTLP_ENDPOINT || undefined);
  const kc = loadKubeConfig(cfg.KUBECONFIG, cfg.QUEUE_SPLITTER_KUBE_CONTEXT, 'QUEUE_SPLITTER_KUBE_CONTEXT');
  const nc = await connectNats({ ...natsOptions(cfg), name: 'queue-splitter', log });
  setReadiness(() => !isBusDown(nc));
  const kafkaConfigs = new KafkaClientConfigs(kc, cfg.OPERATOR_NAMESPACE);
  const brokers = new ClusterBrokers(
    cfg.QUEUE_SPLITTING_SQS ? () => sqsClientFrom(cfg) : undefined,
    (name) => kafkaConfigs.resolve(name),
    log,
    { visibilityTimeout: cfg.QUEUE_SQS_VISIBILITY_TIMEOUT },
  );
  const metrics = new SplitterMetrics();
  const metricsServer = cfg.QUEUE_SPLITTER_METRICS_ADDR ? metrics.serve(cfg.QUEUE_SPLITTER_METRICS_ADDR) : undefined;
  const forwarders = new Forwarders(brokers, metrics, log, (n) => randomInt(n));
  const store = await KvSplitStore.open(nc);
  const splits = new SplitService(
    new KubeCluster(kc, log),
    store,
    brokers,
    ledgerPort(nc),
    log,
    { random: () => randomBytes(4).toString('hex'), drainTimeoutMs: cfg.QUEUE_DRAIN_TIMEOUT * 1000 },
    (output) => forwarders.routedTo(output),
    new KubeSplitObjects(kc, cfg.OPERATOR_NAMESPACE),
  );
  // Every replica forwards every split queue (competing SQS receivers, one Kafka group); the
  // records in the bucket, replayed first by the watch, are what each one routes by.
  const unwatch = await store.watch((key, rec) => {
    void forwarders.apply(key, rec).catch((err: unknown) => log.warn({ err, key }, 'could not apply a split change'));
  });
  const sampler = setInterval(() => forwarders.sample(), 5000);
  // A gateway that died between a split and its session's start leaves a split no Session Ended will end.
  const orphans = setInterval(() => {
    void splits.releaseOrphans().catch((err: unknown) => log.warn({ err }, 'orphan split sweep failed'));
  }, 60_000);
  const ended = await consumeSessionEnded(nc, splits, log);
  const svc = await serveQueueSplitter(nc, splits, VERSION, log);
  log.info(
    { nats: redactUrl(cfg.NATS_URL), sqs: cfg.QUEUE_SPLITTING_SQS ? cfg.SQS_ENDPOINT || 'aws' : 'off' },
    'queue-splitter ready',
  );
  return async () => {
    clearInterval(sampler);
    clearInterval(orphans);
    await svc.stop();
    await ended.close();
    unwatch();
    // The batch in hand is sent and deleted/committed before the forwarders stop: nothing is left half done.
    await forwarders.stopAll();
    await brokers.close();
    metricsServer?.close();
    await nc.drain();
    await otel.shutdown();
  };
});
