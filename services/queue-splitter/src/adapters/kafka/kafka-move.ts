/**
 * Draining one topic into another (a session's or the fallback's records back to where the
 * workload reads): every record `group` has not consumed yet, up to the end offsets read at the
 * start, produced to the destination and then committed — the forwarder's at-least-once order.
 */
import { randomUUID } from 'node:crypto';
import { AssignerProtocol, type Admin, type Kafka, type Producer } from 'kafkajs';
import { conflict } from '#shared/errors/index.js';
import { groupAssigners } from './kafka-assigner.js';
import { nextOffset, produceCopies, type PartitionCounts } from './kafka-relay.js';

export interface MoveDeps {
  kafka: Kafka;
  admin: () => Promise<Admin>;
  producer: () => Promise<Producer>;
  counts: PartitionCounts;
  sessionTimeout: number;
  maxBatch: number;
}

/** Per partition: where `group` stands (committed, or the log start) and where the move ends. */
export async function positions(
  admin: Admin,
  topic: string,
  group: string | undefined,
): Promise<Map<number, { from: bigint; to: bigint }>> {
  const ends = await admin.fetchTopicOffsets(topic);
  const committed = new Map<number, bigint>();
  if (group !== undefined) {
    const [t] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    for (const p of t?.partitions ?? []) committed.set(p.partition, BigInt(p.offset));
  }
  const out = new Map<number, { from: bigint; to: bigint }>();
  for (const e of ends) {
    const low = BigInt(e.low);
    const c = committed.get(e.partition) ?? -1n;
    // No commit (-1) or one below the log start (records deleted by retention): from the start.
    out.set(e.partition, { from: c < low ? low : c, to: BigInt(e.high) });
  }
  return out;
}

/**
 * A member of `group` consuming `from` would share its partitions with the move (which then never
 * reaches the end of the ones it holds) and consume the records itself: the caller stops it first.
 */
async function refuseRunningConsumers(admin: Admin, group: string, from: string): Promise<void> {
  const { groups } = await admin.describeGroups([group]);
  const running = (groups[0]?.members ?? []).filter((m) => {
    try {
      return AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.topics.includes(from);
    } catch {
      return true; // Not the consumer protocol: assume the worst.
    }
  });
  if (running.length > 0)
    throw conflict(
      `consumer group "${group}" has ${running.length} running consumer(s) of "${from}" (${running.map((m) => m.clientId).join(', ')}): stop them before moving its records`,
    );
}

/**
 * Moves what `group` has not consumed of `from` to `to`; without a group, every record `from`
 * still holds (in a throwaway group, deleted after). Returns how many records were produced.
 * Refused (`Conflict`) while a member of `group` consumes `from`.
 */
export async function moveAll(deps: MoveDeps, from: string, to: string, group: string | undefined): Promise<number> {
  const admin = await deps.admin();
  const groupId = group ?? `mirrord-move-${randomUUID()}`;
  if (group !== undefined) await refuseRunningConsumers(admin, group, from);
  const todo = await positions(admin, from, group);
  const remaining = new Set([...todo].filter(([, p]) => p.from < p.to).map(([partition]) => partition));
  if (remaining.size === 0) return 0;

  let moved = 0;
  let done!: () => void;
  let failed!: (e: unknown) => void;
  const finished = new Promise<void>((resolve, reject) => ((done = resolve), (failed = reject)));
  const consumer = deps.kafka.consumer({
    groupId,
    sessionTimeout: deps.sessionTimeout,
    heartbeatInterval: Math.max(500, Math.floor(deps.sessionTimeout / 5)),
    maxWaitTimeInMs: 500,
    allowAutoTopicCreation: false,
    partitionAssigners: groupAssigners,
  });
  consumer.on(consumer.events.CRASH, (e) => {
    if (!e.payload.restart) failed(e.payload.error);
  });
  try {
    await consumer.connect();
    // No committed offset: the records still in the log are all waiting (what `pending` counts).
    await consumer.subscribe({ topics: [from], fromBeginning: true });
    const producer = await deps.producer();
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        const { partition } = batch;
        const end = todo.get(partition)?.to ?? 0n;
        // Records produced after the move began are left for the consumer that comes next.
        const wanted = batch.messages.filter((m) => BigInt(m.offset) < end);
        for (let i = 0; i < wanted.length; i += deps.maxBatch) {
          if (!isRunning() || isStale()) return;
          const chunk = wanted.slice(i, i + deps.maxBatch);
          await produceCopies(
            producer,
            deps.counts,
            { topic: from, partition },
            chunk.map((record) => ({ record, to: [to] })),
          );
          moved += chunk.length;
          const last = chunk.at(-1)!.offset;
          await consumer.commitOffsets([{ topic: from, partition, offset: nextOffset(last) }]);
          resolveOffset(last);
          await heartbeat();
        }
        // The end reached (control records included): this partition is done.
        const reached = BigInt(batch.lastOffset()) + 1n >= end;
        if (reached && remaining.delete(partition)) {
          consumer.pause([{ topic: from, partitions: [partition] }]);
          if (remaining.size === 0) done();
        }
      },
    });
    await finished;
    return moved;
  } finally {
    await consumer.disconnect().catch(() => undefined);
    if (group === undefined) await admin.deleteGroups([groupId]).catch(() => undefined);
  }
}
