import type { Logger } from 'pino';
import { AppError, ErrorCode } from '#shared/errors/index.js';
import { logFieldsOf, logMessageOf, type LedgerEvent } from '#shared/events/index.js';
import { APPEND_BUCKETS, LatencyHistogram, type AppendLatency } from '#shared/ledger/index.js';
import { FencedError, type AppendOutcome, type EventLog, type StoredEvent } from '../domain/store.js';

interface Pending {
  events: LedgerEvent[];
  traceparent: string | undefined;
  /** performance.now() when queued: command-to-commit latency. */
  queuedAt: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

export interface GroupCommitHooks {
  /** After each commit, with its events in position order (feeds the outbox). */
  committed: (events: StoredEvent[]) => void;
  /** Some item failed: memory applied it optimistically and must be rebuilt from the store. */
  failed: (fenced: FencedError | undefined) => Promise<unknown>;
}

/**
 * The event log's one writer: whatever is queued when the writer is free goes in one
 * transaction, with no artificial wait. A command's promise settles only after its commit,
 * with every event's position assigned.
 */
export class GroupCommit {
  readonly #log: Pick<EventLog, 'appendBatch'>;
  readonly #logger: Logger;
  readonly #hooks: GroupCommitHooks;
  #queue: Pending[] = [];
  #writing: Promise<void> | undefined;
  readonly #latency = new LatencyHistogram(APPEND_BUCKETS);

  constructor(log: Pick<EventLog, 'appendBatch'>, logger: Logger, hooks: GroupCommitHooks) {
    this.#log = log;
    this.#logger = logger;
    this.#hooks = hooks;
  }

  /** `mirrord_teams_ledger_append_seconds`: queued command to committed events. */
  latency(): AppendLatency {
    return this.#latency.snapshot();
  }

  /** Events queued and not yet committed (decided on memory that a rebuild must keep). */
  *queued(): Iterable<LedgerEvent> {
    for (const p of this.#queue) yield* p.events;
  }

  append(events: LedgerEvent[], traceparent: string | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ events, traceparent, queuedAt: performance.now(), resolve, reject });
      this.#kick();
    });
  }

  /** Waits until everything queued is committed or failed. */
  async drain(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  #kick(): void {
    if (this.#writing || this.#queue.length === 0) return;
    this.#writing = this.#writeLoop().finally(() => {
      this.#writing = undefined;
      this.#kick();
    });
  }

  async #writeLoop(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      let outcomes: AppendOutcome[];
      try {
        outcomes = await this.#log.appendBatch(batch.map((p) => ({ events: p.events, traceparent: p.traceparent })));
      } catch (e) {
        outcomes = batch.map(() => ({ ok: false as const, error: e as Error }));
      }
      let failed = false;
      let fenced: FencedError | undefined;
      const committed: StoredEvent[] = [];
      const at = performance.now();
      batch.forEach((p, i) => {
        const o = outcomes[i]!;
        if (o.ok) {
          p.events.forEach((e, j) => {
            e.position = o.positions[j]!;
            this.#logger.info(logFieldsOf(e), logMessageOf[e.type]);
            committed.push(p.traceparent ? { event: e, traceparent: p.traceparent } : { event: e });
          });
          this.#latency.observe((at - p.queuedAt) / 1000);
          p.resolve();
        } else {
          failed = true;
          if (o.error instanceof FencedError) fenced = o.error;
          p.reject(
            o.error instanceof AppError
              ? o.error
              : new AppError(ErrorCode.Unavailable, `ledger store: ${o.error.message}`, { cause: o.error }),
          );
        }
      });
      if (committed.length > 0) this.#hooks.committed(committed.sort((a, b) => a.event.position - b.event.position));
      if (failed) await this.#hooks.failed(fenced);
    }
  }
}
