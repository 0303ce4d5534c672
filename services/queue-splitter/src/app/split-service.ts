import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { AppError, ErrorCode, invalid, unavailable } from '#shared/errors/index.js';
import { temporaryGroup, temporaryName } from '../domain/names.js';
import { planSplits, type PlannedSplit } from '../domain/registry.js';
import { renderFilter } from '#shared/queues/index.js';
import { envValue } from '../domain/workload.js';
import {
  workloadPath,
  type Brokers,
  type ClusterPort,
  type SplitAnswer,
  type SplitLedger,
  type SplitObjects,
  type SplitRecord,
  type SplitRequest,
  type SplitStore,
  type Versioned,
  type Workload,
} from './ports.js';
import { patchWorkload, restoreWorkload, type WorkloadDeps } from './workload-patch.js';

export interface SplitServiceOptions {
  /** A fresh random token for temporary names ([a-z0-9], short). */
  random: () => string;
  /** How long the last session's workload may take to empty its fallback before it is restored anyway. */
  drainTimeoutMs: number;
  /** How often the drain checks the fallback. */
  drainPollMs?: number;
  now?: () => number;
  /** A share whose session the ledger does not know after this long was left by a failed start (a gateway crash). */
  orphanAfterMs?: number;
  /** How long a route change takes to reach every forwarder and its batch in hand (ms). */
  routeGraceMs?: number;
}

/** The shared record of one split queue: one key per (workload, queue type, queue id). */
export const recordKey = (w: Workload, type: string, id: string): string =>
  `${type.toLowerCase()}.${createHash('sha256')
    .update(JSON.stringify([w.namespace, w.kind, w.name, id]))
    .digest('hex')
    .slice(0, 40)}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The split's use cases (queues.md "What the operator does"): a session's start (fallback and
 * workload patch on the first one, a temporary queue of its own, its filters registered) and
 * its end (its queue returned or deleted; after the last one the fallback drained, the workload
 * restored and the fallback deleted). Every step is idempotent and the shared record says how
 * far it got, so a crash of any replica is finished by the next call or redelivery.
 */
export class SplitService {
  readonly #o: Required<SplitServiceOptions>;
  constructor(
    private readonly cluster: ClusterPort,
    private readonly store: SplitStore,
    private readonly brokers: Brokers,
    private readonly ledger: SplitLedger,
    private readonly log: Logger,
    options: SplitServiceOptions,
    /** Messages routed to a session so far (the forwarders count them), for Queue Split Ended. */
    private readonly routed: (output: string) => number = () => 0,
    private readonly objects?: SplitObjects,
  ) {
    this.#o = Object.freeze({
      drainPollMs: 500,
      now: Date.now,
      orphanAfterMs: 120_000,
      routeGraceMs: 1000,
      ...options,
    });
  }

  /** Start (or, for a session that has it, repeat) a session's splits; answers its environment. */
  async start(req: SplitRequest): Promise<SplitAnswer> {
    const target = workloadPath(req.workload);
    const decls = await this.cluster.declarations(req.workload, req.container);
    const plan = planSplits(target, req.workload.namespace, decls, req.splits);
    const answer: SplitAnswer = { env: {}, queues: [], patches: [], restarted: false };
    try {
      // The workload's first splits are patched together: one rollout however many queues.
      const firsts: Array<{ key: string; cur: Versioned<SplitRecord> }> = [];
      for (const p of plan) {
        const rec = await this.#join(req, p, firsts);
        const share = rec.sessions[req.session_id]!;
        for (const at of p.decl.names) answer.env[at.variable] = share.output;
        if (share.group) for (const at of p.decl.groups) answer.env[at.variable] = share.group;
        answer.queues.push({
          queue_type: p.decl.queue_type,
          queue_id: p.decl.queue_id,
          original: rec.original,
          output: share.output,
          filter: renderFilter(share.message_filter),
          message_filter: share.message_filter,
          mode: share.mode,
          fallback: rec.fallback,
          ...(p.decl.client_config ? { client_config: p.decl.client_config } : {}),
        });
      }
      if (firsts.length) {
        answer.patches = await patchWorkload(this.#deps(), req.workload, firsts);
        answer.restarted = true;
      }
    } catch (e) {
      // Half a split is no split: what this session got so far is undone, the error stands.
      await this.end(req.session_id, 'StartFailed').catch((err: unknown) =>
        this.log.warn({ err, session_id: req.session_id }, 'could not undo a failed split'),
      );
      throw e;
    }
    return answer;
  }

  async #join(
    req: SplitRequest,
    p: PlannedSplit,
    firsts: Array<{ key: string; cur: Versioned<SplitRecord> }>,
  ): Promise<SplitRecord> {
    const key = recordKey(req.workload, p.decl.queue_type, p.decl.queue_id);
    const broker = await this.brokers.of(p.decl);
    for (let attempt = 0; attempt < 50; attempt++) {
      const cur = await this.store.get(key);
      if (cur?.value.sessions[req.session_id]) return cur.value;
      if (cur?.value.phase === 'draining') {
        // The previous last session's restore is under way: the next split starts from scratch.
        await sleep(this.#o.drainPollMs);
        continue;
      }
      const rec = cur ? cur.value : await this.#newRecord(req, p);
      const first = !cur;
      const output = temporaryName(p.decl.queue_type, rec.original, this.#o.random(), false);
      await broker.createLike(rec.original, output);
      const share = {
        output,
        message_filter: p.message_filter,
        mode: p.mode,
        client_user: req.client_user,
        since: this.#o.now(),
        ...(rec.group ? { group: temporaryGroup(rec.group.original, this.#o.random(), false) } : {}),
      };
      const next: SplitRecord = { ...rec, sessions: { ...rec.sessions, [req.session_id]: share } };
      const revision = first ? await this.store.create(key, next) : await this.store.update(key, next, cur.revision);
      if (revision === undefined) {
        // Another replica changed it first: this temporary queue is not in any record, so it goes.
        await broker.delete(output);
        if (first) await broker.delete(rec.fallback);
        continue;
      }
      await this.#keep('record the split', async (o) => {
        if (rec.queue_type === 'Kafka') {
          const kafka = { workload: rec.workload, client_config: rec.decl.client_config!, queue_id: rec.queue_id };
          if (first) await o.ephemeralTopic({ ...kafka, topic: rec.fallback });
          await o.ephemeralTopic({ ...kafka, topic: output, session_id: req.session_id });
        } else
          await o.sqsSession({
            workload: rec.workload,
            session_id: req.session_id,
            queue_id: rec.queue_id,
            message_filter: p.message_filter,
            env: rec.decl.names[0]!.variable,
            original: rec.original,
            output,
          });
      });
      if (first) firsts.push({ key, cur: { value: next, revision } });
      this.log.info(
        {
          session_id: req.session_id,
          queue_id: p.decl.queue_id,
          queue_type: p.decl.queue_type,
          original: rec.original,
          output,
          mode: p.mode,
        },
        'queue split started',
      );
      return next;
    }
    throw unavailable(`queue ${p.decl.queue_id} of ${workloadPath(req.workload)} is changing too often to join; retry`);
  }

  /** The record of a first session: the original's name from the template, a fallback made for the workload. */
  async #newRecord(req: SplitRequest, p: PlannedSplit): Promise<SplitRecord> {
    const what = `${p.decl.resource} queue "${p.decl.queue_id}"`;
    const template = await this.cluster.template(req.workload);
    const original = envValue(template, p.decl.names[0]!, what) ?? p.decl.fallback_name;
    if (!original)
      throw invalid(
        what,
        `${p.decl.names[0]!.variable} is not set in ${workloadPath(req.workload)}'s pod template and the resource has no fallbackName`,
        'set the variable in the workload, or fallbackName in the registry',
      );
    const broker = await this.brokers.of(p.decl);
    if (!(await broker.exists(original)))
      throw new AppError(
        ErrorCode.NotFound,
        `${what}: ${workloadPath(req.workload)} reads ${p.decl.queue_type === 'SQS' ? 'queue' : 'topic'} "${original}", which does not exist on the broker`,
      );
    let group: SplitRecord['group'];
    if (p.decl.queue_type === 'Kafka') {
      const g = p.decl.groups[0] ? envValue(template, p.decl.groups[0], what) : undefined;
      if (!g)
        throw invalid(
          `${what}.groupIdSources`,
          "the workload's consumer group id is needed (the forwarder continues its committed offsets) and none is declared or set",
          'add groupIdSources naming the variable that holds the group id',
        );
      group = { original: g, fallback: temporaryGroup(g, this.#o.random(), true) };
    }
    const fallback = temporaryName(p.decl.queue_type, original, this.#o.random(), true);
    await broker.createLike(original, fallback);
    return {
      queue_type: p.decl.queue_type,
      queue_id: p.decl.queue_id,
      workload: req.workload,
      decl: p.decl,
      original,
      fallback,
      ...(group ? { group } : {}),
      patched_by: req.session_id,
      phase: 'active',
      sessions: {},
    };
  }

  #deps(): WorkloadDeps {
    return {
      cluster: this.cluster,
      store: this.store,
      brokers: this.brokers,
      ledger: this.ledger,
      log: this.log,
      drainTimeoutMs: this.#o.drainTimeoutMs,
      drainPollMs: this.#o.drainPollMs,
      keep: (what, write) => this.#keep(what, write),
    };
  }

  /** The split's objects are for people and cleanup: a failure to write them is logged, the split goes on. */
  async #keep(what: string, write: (o: SplitObjects) => Promise<void>): Promise<void> {
    if (!this.objects) return;
    try {
      await write(this.objects);
    } catch (err) {
      this.log.warn({ err }, `could not ${what} in the cluster`);
    }
  }

  /**
   * Ends every split of a session (idempotent: Session Ended may be delivered again). A session
   * that never started (`StartFailed`, an orphan) has no stream to record on: nothing is recorded.
   */
  async end(sessionId: string, reason: string): Promise<number> {
    const record = reason !== 'StartFailed' && reason !== 'NeverStarted';
    let ended = 0;
    const restores = new Map<string, Array<{ key: string; cur: Versioned<SplitRecord> }>>();
    for (const [key] of await this.store.list()) {
      const left = await this.#leave(key, sessionId, reason, record);
      if (!left) continue;
      ended++;
      // The last session of a queue: its workload is restored once, with every queue it leaves.
      if (left !== true) {
        const w = JSON.stringify(left.cur.value.workload);
        restores.set(w, [...(restores.get(w) ?? []), left]);
      }
    }
    for (const items of restores.values()) await restoreWorkload(this.#deps(), items, sessionId, record);
    return ended;
  }

  /**
   * Shares whose session the ledger never heard of, well after they were made: the gateway that
   * asked died before it started the session (and so before any Session Ended could come).
   */
  async releaseOrphans(): Promise<number> {
    const ids = new Set<string>();
    const old = this.#o.now() - this.#o.orphanAfterMs;
    for (const [, v] of await this.store.list())
      for (const [id, s] of Object.entries(v.value.sessions)) if (s.since < old) ids.add(id);
    let released = 0;
    for (const id of ids)
      if ((await this.ledger.status(id)) === 'unknown') {
        this.log.warn({ session_id: id }, 'releasing the queue splits of a session that never started');
        released += await this.end(id, 'NeverStarted');
      }
    return released;
  }

  /** Leaves one split: false when the session had none there, the record to restore when it was the last. */
  async #leave(
    key: string,
    sessionId: string,
    reason: string,
    record: boolean,
  ): Promise<false | true | { key: string; cur: Versioned<SplitRecord> }> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const cur = await this.store.get(key);
      const share = cur?.value.sessions[sessionId];
      if (!cur || !share) return false;
      const { [sessionId]: _gone, ...rest } = cur.value.sessions;
      const last = Object.keys(rest).length === 0;
      const next: SplitRecord = { ...cur.value, sessions: rest, ...(last ? { phase: 'draining' as const } : {}) };
      const revision = await this.store.update(key, next, cur.revision);
      if (revision === undefined) continue;
      const rec = cur.value;
      const broker = await this.brokers.of(rec.decl);
      // Every replica's forwarder learns the new route from the record's watch; a batch routed
      // with the old one finishes its sends first. Only then is the queue emptied and deleted, so
      // no send lands in a queue after its unread messages were moved out.
      await sleep(this.#o.routeGraceMs);
      // A stolen message the local app did not take goes back to the original (to be routed
      // again); a mirrored one is a copy the workload also got.
      const returned =
        share.mode === 'steal'
          ? await broker.moveAll(share.output, rec.original, share.group ? { group: share.group } : {})
          : 0;
      await broker.delete(share.output);
      await this.#keep('forget the split', (o) =>
        rec.queue_type === 'Kafka'
          ? o.removeEphemeralTopic(share.output)
          : o.removeSqsSession({ workload: rec.workload, session_id: sessionId, queue_id: rec.queue_id }),
      );
      if (record)
        await this.ledger.splitEnded({
          session_id: sessionId,
          queue_type: rec.queue_type,
          queue_id: rec.queue_id,
          output: share.output,
          messages: this.routed(share.output),
          reason,
        });
      this.log.info(
        { session_id: sessionId, queue_id: rec.queue_id, output: share.output, returned, reason },
        'queue split ended',
      );
      return last ? { key, cur: { value: next, revision } } : true;
    }
    throw unavailable(`the split record ${key} is changing too often to leave; the end will be retried`);
  }
}
