import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import type { ForwardOptions, Forwarder, Route } from '../../domain/broker.js';
import { Backoff, Delivery, receive, type ReceiveConfig } from './sqs-delivery.js';
import { isMissingQueue, type SqsQueues } from './sqs-queues.js';

export interface SqsForwarderDeps {
  client: SQSClient;
  queues: SqsQueues;
  source: string;
  route: Route;
  options: ForwardOptions;
  config: ReceiveConfig;
}

/**
 * The loop of `SqsBroker.forward`: long-poll a batch from the source, deliver it (sent to every
 * destination, then deleted), again, until `stop()`. A failure (broker down, throttled, a
 * destination missing) is reported to `onError` and retried after a backoff; the loop never ends
 * on its own. `stop()` lets the receive in progress end (at most `waitTimeSeconds`) and delivers
 * what it brought, cuts a backoff short, and finishes the batch in hand: if a send of it fails
 * while stopping, the unsent messages are given back to the source, visible at once.
 */
export class SqsForwarder implements Forwarder {
  readonly #deps: SqsForwarderDeps;
  readonly #delivery: Delivery;
  readonly #abort = new AbortController();
  #stopping = false;
  readonly #done: Promise<void>;

  constructor(deps: SqsForwarderDeps) {
    this.#deps = deps;
    this.#delivery = new Delivery({
      client: deps.client,
      queues: deps.queues,
      source: deps.source,
      route: deps.route,
      dedup: 'keep',
      visibilityMs: deps.config.visibilityTimeout * 1000,
      onRouted: deps.options.onRouted,
      onRetry: deps.options.onRetry,
    });
    this.#done = this.#run();
  }

  stop(): Promise<void> {
    this.#stopping = true;
    this.#abort.abort();
    return this.#done;
  }

  lag(): { messages: number; oldestMs: number } {
    return this.#delivery.lag(Date.now());
  }

  /** onError is the caller's: a throw in it must not end the loop. */
  readonly #report = (err: unknown): void => {
    try {
      this.#deps.options.onError?.(err);
    } catch {
      // ignored: the forwarder outlives its logger's failures
    }
  };

  async #run(): Promise<void> {
    const { client, queues, source, config } = this.#deps;
    const signal = this.#abort.signal;
    const backoff = new Backoff();
    const control = { retry: true, stopping: () => this.#stopping, signal, onError: this.#report };
    while (!this.#stopping) {
      let messages: Message[];
      try {
        // Not aborted by stop(): a long poll cut short client-side can still be answered by the
        // broker, and what it hands to nobody stays invisible for the visibility timeout (seen
        // on ElasticMQ: a stop, then moveAll into the source, held 30 s). stop() waits it out.
        messages = await receive(client, await queues.url(source), config);
        backoff.reset();
      } catch (e) {
        if (this.#stopping) break;
        if (isMissingQueue(e)) queues.forget(source);
        this.#report(e);
        await backoff.wait(signal);
        continue;
      }
      if (messages.length === 0) continue;
      try {
        await this.#delivery.deliver(messages, control);
      } catch (e) {
        // Not expected (delivery retries and reports its own failures); what was not deleted comes back.
        this.#report(e);
      }
    }
  }
}
