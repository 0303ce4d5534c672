import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type BatchResultErrorEntry,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Destination, Route, RoutedMessage } from '../../domain/broker.js';
import {
  chunks,
  copyOf,
  groupOf,
  receiveCountOf,
  routedMessageOf,
  sentAtOf,
  sizeOf,
  type DedupPolicy,
} from './sqs-messages.js';
import { isFifoName, isMissingQueue, type SqsQueues } from './sqs-queues.js';

/** What one receive asks for: a batch, a long poll, this process's visibility timeout, every attribute. */
export interface ReceiveConfig {
  batch: number;
  waitTimeSeconds: number;
  visibilityTimeout: number;
}

export async function receive(client: SQSClient, queueUrl: string, config: ReceiveConfig): Promise<Message[]> {
  const r = await client.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: config.batch,
      WaitTimeSeconds: config.waitTimeSeconds,
      VisibilityTimeout: config.visibilityTimeout,
      MessageAttributeNames: ['All'],
      MessageSystemAttributeNames: ['All'],
    }),
  );
  return r.Messages ?? [];
}

/** Waits 200 ms, then twice as long each time up to 5 s; `reset` after a success. A stop cuts a wait short. */
export class Backoff {
  #ms = 0;
  async wait(signal?: AbortSignal): Promise<void> {
    this.#ms = this.#ms === 0 ? 200 : Math.min(this.#ms * 2, 5_000);
    await sleep(this.#ms, undefined, signal ? { signal } : {}).catch(() => undefined);
  }
  reset(): void {
    this.#ms = 0;
  }
}

/** Runs a caller's metric callback: one that throws must not stop (or repeat) a delivery. */
function callback(f: () => void): void {
  try {
    f();
  } catch {
    // the caller's bug, not the message's: the delivery goes on
  }
}

/** A batch entry SQS refused (throttled, invalid, …), as an error the caller can log. */
class EntryRefused extends Error {
  readonly code: string | undefined;
  constructor(what: string, entry: BatchResultErrorEntry) {
    super(`${what}: ${entry.Code ?? 'refused'}${entry.Message ? `: ${entry.Message}` : ''}`);
    this.name = 'EntryRefused';
    this.code = entry.Code;
  }
}

/** A received message in hand: where it goes (routed once), where it has been sent so far. */
interface Held {
  readonly message: Message;
  readonly routed: RoutedMessage;
  readonly destinations: readonly Destination[];
  readonly sent: Set<string>;
  readonly group: string | undefined;
  readonly receivedAt: number;
  readonly sentAt: number;
}

export interface DeliveryDeps {
  client: SQSClient;
  queues: SqsQueues;
  source: string;
  route: Route;
  dedup: DedupPolicy;
  /** The visibility timeout the messages were received with, in ms: past it they are not ours. */
  visibilityMs: number;
  onRouted?: ((destination: Destination, message: RoutedMessage) => void) | undefined;
  onRetry?: ((count: number) => void) | undefined;
}

export interface DeliverControl {
  /** Forwarder: keep retrying what is in hand (until it is sent, or its visibility ends). moveAll: throw. */
  retry: boolean;
  stopping(): boolean;
  signal?: AbortSignal;
  onError?: (err: unknown) => void;
}

/**
 * Sends received messages on and deletes them from the source: at least once, never lost. A
 * message is deleted only once every one of its destinations took it; a failed send is retried
 * for the destinations still missing (never one that took it already). From a FIFO source the
 * messages go one by one in receive order, and once a group's message fails no later message of
 * that group is sent in the same try, so each destination sees every group in order. From a
 * standard source they go in SendMessageBatch calls, one destination at a time, in parallel.
 */
export class Delivery {
  readonly #deps: DeliveryDeps;
  readonly #ordered: boolean;
  #hand: Held[] = [];

  constructor(deps: DeliveryDeps) {
    this.#deps = deps;
    this.#ordered = isFifoName(deps.source);
  }

  lag(now: number): { messages: number; oldestMs: number } {
    if (this.#hand.length === 0) return { messages: 0, oldestMs: 0 };
    const oldest = Math.min(...this.#hand.map((h) => h.sentAt));
    return { messages: this.#hand.length, oldestMs: Math.max(0, now - oldest) };
  }

  /** Delivers one received batch; returns how many messages were deleted from the source. */
  async deliver(messages: readonly Message[], control: DeliverControl): Promise<number> {
    const refused = this.#take(messages);
    if (refused.length > 0 && !control.retry) {
      await this.#release();
      throw refused[0];
    }
    for (const e of refused) control.onError?.(e);
    const backoff = new Backoff();
    let deleted = 0;
    while (this.#hand.length > 0) {
      const result = await this.#attempt();
      deleted += result.deleted;
      this.#dropExpired(Date.now());
      let error = result.error;
      if (error === undefined && this.#hand.length > 0) error = new Error('SQS delivery made no progress');
      if (error === undefined) break;
      if (!control.retry) {
        await this.#release();
        throw error;
      }
      control.onError?.(error);
      if (control.stopping()) {
        await this.#release();
        break;
      }
      await backoff.wait(control.signal);
    }
    return deleted;
  }

  /**
   * Routes each message once (a redelivery is routed afresh). A message the route refuses (it
   * threw, or named no destination) is not taken: it stays in the source and comes back after its
   * visibility timeout; from a FIFO source, so do the later messages of its group.
   */
  #take(messages: readonly Message[]): unknown[] {
    const refused: unknown[] = [];
    const blocked = new Set<string>();
    let redelivered = 0;
    const now = Date.now();
    for (const message of messages) {
      if (receiveCountOf(message) > 1) redelivered++;
      const group = groupOf(message);
      if (this.#ordered && group !== undefined && blocked.has(group)) continue;
      const routed = routedMessageOf(message);
      let destinations: Destination[];
      try {
        const named = new Map(this.#deps.route(routed).map((d) => [d.name, d]));
        destinations = [...named.values()];
        if (destinations.length === 0) throw new Error('the route named no destination');
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        refused.push(
          new Error(`SQS message ${message.MessageId} of "${this.#deps.source}" not routed (left there): ${why}`, {
            cause: e,
          }),
        );
        if (group !== undefined) blocked.add(group);
        continue;
      }
      const sentAt = sentAtOf(message, now);
      this.#hand.push({ message, routed, destinations, sent: new Set(), group, receivedAt: now, sentAt });
    }
    if (redelivered > 0) callback(() => this.#deps.onRetry?.(redelivered));
    return refused;
  }

  /** One try: sends what is not sent yet, deletes what every destination took. Returns the first failure. */
  async #attempt(): Promise<{ deleted: number; error: unknown }> {
    const sendError = this.#ordered ? await this.#sendInOrder() : await this.#sendBatched();
    const { deleted, error } = await this.#deleteDone();
    return { deleted, error: sendError ?? error };
  }

  async #sendInOrder(): Promise<unknown> {
    const { client, queues, dedup } = this.#deps;
    const blocked = new Set<string>();
    let error: unknown;
    for (const held of this.#hand) {
      const key = held.group ?? held.message.MessageId ?? '';
      if (blocked.has(key)) continue;
      for (const dest of held.destinations) {
        if (held.sent.has(dest.name)) continue;
        try {
          const QueueUrl = await queues.url(dest.name);
          await client.send(
            new SendMessageCommand({ QueueUrl, ...copyOf(held.message, isFifoName(dest.name), dedup) }),
          );
        } catch (e) {
          if (isMissingQueue(e)) queues.forget(dest.name);
          error ??= e;
          blocked.add(key);
          break;
        }
        this.#sent(held, dest);
      }
    }
    return error;
  }

  async #sendBatched(): Promise<unknown> {
    const { client, queues, dedup } = this.#deps;
    const byDest = new Map<string, { dest: Destination; held: Held[] }>();
    for (const held of this.#hand)
      for (const dest of held.destinations) {
        if (held.sent.has(dest.name)) continue;
        const entry = byDest.get(dest.name) ?? { dest, held: [] };
        entry.held.push(held);
        byDest.set(dest.name, entry);
      }
    let error: unknown;
    await Promise.all(
      [...byDest.values()].map(async ({ dest, held }) => {
        const fifo = isFifoName(dest.name);
        const copies = held.map((h) => ({ held: h, copy: copyOf(h.message, fifo, dedup) }));
        for (const chunk of chunks(copies, (c) => sizeOf(c.copy))) {
          try {
            const QueueUrl = await queues.url(dest.name);
            const Entries = chunk.map((c, i) => ({ Id: String(i), ...c.copy }));
            const r = await client.send(new SendMessageBatchCommand({ QueueUrl, Entries }));
            for (const ok of r.Successful ?? []) {
              const c = chunk[Number(ok.Id)];
              if (c) this.#sent(c.held, dest);
            }
            const failed = r.Failed?.[0];
            if (failed) error ??= new EntryRefused(`SQS send to "${dest.name}"`, failed);
          } catch (e) {
            if (isMissingQueue(e)) queues.forget(dest.name);
            error ??= e;
          }
        }
      }),
    );
    return error;
  }

  #sent(held: Held, dest: Destination): void {
    held.sent.add(dest.name);
    callback(() => this.#deps.onRouted?.(dest, held.routed));
  }

  async #deleteDone(): Promise<{ deleted: number; error: unknown }> {
    const done = this.#hand.filter((h) => h.destinations.every((d) => h.sent.has(d.name)));
    if (done.length === 0) return { deleted: 0, error: undefined };
    const { client, queues, source } = this.#deps;
    const gone = new Set<Held>();
    let deleted = 0;
    let error: unknown;
    for (let i = 0; i < done.length; i += 10) {
      const chunk = done.slice(i, i + 10);
      try {
        const QueueUrl = await queues.url(source);
        const Entries = chunk.map((h, j) => ({ Id: String(j), ReceiptHandle: h.message.ReceiptHandle }));
        const r = await client.send(new DeleteMessageBatchCommand({ QueueUrl, Entries }));
        for (const ok of r.Successful ?? []) {
          const h = chunk[Number(ok.Id)];
          if (!h) continue;
          gone.add(h);
          deleted++;
        }
        for (const failed of r.Failed ?? []) {
          const h = chunk[Number(failed.Id)];
          // A receipt handle past its visibility timeout: the message is handed out again and
          // will be sent again (a duplicate, never a loss); nothing more to do with this one.
          if (h && failed.Code === 'ReceiptHandleIsInvalid') gone.add(h);
          else error ??= new EntryRefused(`SQS delete from "${source}"`, failed);
        }
      } catch (e) {
        if (isMissingQueue(e)) queues.forget(source);
        error ??= e;
      }
    }
    this.#hand = this.#hand.filter((h) => !gone.has(h));
    return { deleted, error };
  }

  /** Lets go of messages whose visibility timeout is (nearly) over: SQS hands them out again. */
  #dropExpired(now: number): void {
    const margin = Math.min(1_000, this.#deps.visibilityMs / 4);
    this.#hand = this.#hand.filter((h) => now < h.receivedAt + this.#deps.visibilityMs - margin);
  }

  /** Gives back what is in hand, visible again at once for the next consumer (best effort: else after its timeout). */
  async #release(): Promise<void> {
    const held = this.#hand;
    this.#hand = [];
    if (held.length === 0) return;
    try {
      const QueueUrl = await this.#deps.queues.url(this.#deps.source);
      for (let i = 0; i < held.length; i += 10) {
        const Entries = held
          .slice(i, i + 10)
          .map((h, j) => ({ Id: String(j), ReceiptHandle: h.message.ReceiptHandle, VisibilityTimeout: 0 }));
        await this.#deps.client.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl, Entries }));
      }
    } catch {
      // The broker is unreachable: the messages come back when their visibility timeout ends.
    }
  }
}
