import type { Logger } from 'pino';
import { envValue, restoreEnv, setEnv, withPatchedLabel, type PodTemplate } from '../domain/workload.js';
import {
  workloadPath,
  type Brokers,
  type ClusterPort,
  type SplitLedger,
  type SplitObjects,
  type SplitRecord,
  type SplitStore,
  type Versioned,
  type Workload,
  type WorkloadPatch,
} from './ports.js';

/** What patching and restoring a workload needs (the split service's ports and settings). */
export interface WorkloadDeps {
  cluster: ClusterPort;
  store: SplitStore;
  brokers: Brokers;
  ledger: SplitLedger;
  log: Logger;
  drainTimeoutMs: number;
  drainPollMs: number;
  keep(what: string, write: (o: SplitObjects) => Promise<void>): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Where a record's patch sets the template: its queue variables to the fallback, its group variables to the fallback group. */
export function placesOf(rec: SplitRecord) {
  return [
    ...rec.decl.names.map((at) => ({ at, value: rec.fallback, original: rec.original })),
    ...rec.decl.groups.map((at) => ({ at, value: rec.group!.fallback, original: rec.group!.original })),
  ];
}

/**
 * Points the workload at the fallbacks (and fallback groups) of its first splits in one
 * template change — one rollout however many queues — and records what each replaced.
 */
export async function patchWorkload(
  d: WorkloadDeps,
  workload: Workload,
  firsts: Array<{ key: string; cur: Versioned<SplitRecord> }>,
): Promise<WorkloadPatch[]> {
  const replaced = new Map<string, NonNullable<SplitRecord['replaced']>>();
  await d.cluster.updateTemplate(workload, (t) => {
    let out: PodTemplate = t;
    for (const { key, cur } of firsts) {
      const what = `${cur.value.decl.resource} queue "${cur.value.queue_id}"`;
      const mine: NonNullable<SplitRecord['replaced']> = [];
      for (const { at, value } of placesOf(cur.value)) {
        const r = setEnv(out, at, value, what);
        out = r.template;
        mine.push(r.replaced ?? null);
      }
      replaced.set(key, mine);
    }
    return withPatchedLabel(out, true);
  });
  // Each record learns what to restore; a lost race here only repeats the same values.
  for (const { key, cur } of firsts)
    for (let i = 0; i < 20; i++) {
      const now = i === 0 ? cur : await d.store.get(key);
      if (!now) break;
      if ((await d.store.update(key, { ...now.value, replaced: replaced.get(key)! }, now.revision)) !== undefined)
        break;
    }
  const timeout = Math.max(...firsts.map((f) => f.cur.value.decl.restart_timeout_s));
  const ready = await d.cluster.waitRolledOut(workload, timeout * 1000);
  if (!ready)
    d.log.warn(
      { workload: workloadPath(workload), queues: firsts.map((f) => f.cur.value.queue_id), timeout_s: timeout },
      'the patched workload did not finish its rollout in time; its messages wait in the fallback queue',
    );
  return firsts.map(({ cur: { value: rec } }) => ({
    namespace: workload.namespace,
    target: workloadPath(workload),
    queue_type: rec.queue_type,
    queue_id: rec.queue_id,
    env: rec.decl.names[0]!.variable,
    original: rec.original,
    fallback: rec.fallback,
  }));
}

/**
 * After the last session of some queues of a workload: it empties their fallbacks (capped by
 * the drain timeout; leftovers go back to the originals), then one template change restores
 * them all — a variable is put back only where it still holds the patch's value — and the
 * fallbacks go. The patched label stays while another queue of the workload is still split.
 */
export async function restoreWorkload(
  d: WorkloadDeps,
  items: Array<{ key: string; cur: Versioned<SplitRecord> }>,
  sessionId: string,
  record: boolean,
): Promise<void> {
  const workload = items[0]!.cur.value.workload;
  const deadline = Date.now() + d.drainTimeoutMs;
  const drained = await Promise.all(
    items.map(async ({ cur: { value: rec } }) => {
      const broker = await d.brokers.of(rec.decl);
      const before = await broker.pending(rec.fallback, rec.group?.fallback);
      let left = before;
      while (left > 0 && Date.now() < deadline) {
        await sleep(d.drainPollMs);
        left = await broker.pending(rec.fallback, rec.group?.fallback);
      }
      // What the workload did not take in time is not lost: back to the original it reads next.
      const moved =
        left > 0 ? await broker.moveAll(rec.fallback, rec.original, rec.group ? { group: rec.group.fallback } : {}) : 0;
      return { drained: Math.max(0, before - left), moved };
    }),
  );
  const mine = new Set(items.map((i) => i.key));
  const stillSplit = (await d.store.list()).some(
    ([k, v]) => !mine.has(k) && JSON.stringify(v.value.workload) === JSON.stringify(workload),
  );
  await d.cluster.updateTemplate(workload, (t) => {
    let out = t;
    for (const {
      cur: { value: rec },
    } of items) {
      const what = `${rec.decl.resource} queue "${rec.queue_id}"`;
      placesOf(rec).forEach(({ at, value, original }, i) => {
        if (envValue(out, at, what) !== value) return;
        // What the patch replaced; without its record (a crash before it was written), the original.
        out = restoreEnv(out, at, rec.replaced?.[i] ?? { name: at.variable, value: original }, what);
      });
    }
    return stillSplit ? out : withPatchedLabel(out, false);
  });
  for (const [n, { key, cur }] of items.entries()) {
    const rec = cur.value;
    const broker = await d.brokers.of(rec.decl);
    await broker.delete(rec.fallback);
    if (rec.queue_type === 'Kafka')
      await d.keep('forget the fallback topic', (o) => o.removeEphemeralTopic(rec.fallback));
    await d.store.remove(key, cur.revision);
    if (record)
      await d.ledger.workloadRestored({
        session_id: sessionId,
        namespace: workload.namespace,
        target: workloadPath(workload),
        queue_type: rec.queue_type,
        queue_id: rec.queue_id,
        env: rec.decl.names[0]!.variable,
        drained: drained[n]!.drained,
      });
    d.log.info(
      { workload: workloadPath(workload), queue_id: rec.queue_id, ...drained[n], returned: drained[n]!.moved },
      'workload restored after its last queue split',
    );
  }
}
