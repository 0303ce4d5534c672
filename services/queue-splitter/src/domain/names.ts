/**
 * Names of the temporary queues and topics (queues.md): `mirrord-tmp-<random>-fallback-<original>`
 * for the deployed workload, `mirrord-tmp-<random>-<original>` per session. SQS names are at most
 * 80 characters and a FIFO queue's must end in `.fifo`; Kafka topics at most 249, [a-zA-Z0-9._-].
 */
export type Broker = 'SQS' | 'Kafka';

const LIMIT: Record<Broker, number> = { SQS: 80, Kafka: 249 };

export function temporaryName(broker: Broker, original: string, random: string, fallback: boolean): string {
  const fifo = broker === 'SQS' && original.endsWith('.fifo');
  const base = fifo ? original.slice(0, -'.fifo'.length) : original;
  const prefix = `mirrord-tmp-${random}-${fallback ? 'fallback-' : ''}`;
  const suffix = fifo ? '.fifo' : '';
  // The random part keeps a cut name unique; the original's head keeps it recognisable.
  const room = LIMIT[broker] - prefix.length - suffix.length;
  return `${prefix}${base.slice(0, Math.max(0, room))}${suffix}`;
}

/** The consumer group a session's local app (or the patched workload) reads its topic with. */
export function temporaryGroup(group: string, random: string, fallback: boolean): string {
  return `mirrord-tmp-${random}-${fallback ? 'fallback-' : ''}${group}`.slice(0, 255);
}
