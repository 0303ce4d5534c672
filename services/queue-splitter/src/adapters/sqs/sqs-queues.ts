import { GetQueueUrlCommand, QueueDoesNotExist, type SQSClient } from '@aws-sdk/client-sqs';

/** SQS's rule: a FIFO queue's name ends in `.fifo`, and only a FIFO queue's does. */
export const isFifoName = (name: string): boolean => name.endsWith('.fifo');

/** The queue does not exist: the JSON protocol's `QueueDoesNotExist`, the query protocol's code. */
export function isMissingQueue(e: unknown): boolean {
  if (e instanceof QueueDoesNotExist) return true;
  const err = e as { name?: unknown; Code?: unknown } | null;
  return (
    err?.name === 'QueueDoesNotExist' ||
    err?.name === 'AWS.SimpleQueueService.NonExistentQueue' ||
    err?.Code === 'AWS.SimpleQueueService.NonExistentQueue'
  );
}

/**
 * Queue name → URL, resolved once (GetQueueUrl) and kept; a failed lookup is not kept, and
 * `forget` drops one the broker said is gone (deleted, or the broker lost it in a restart).
 */
export class SqsQueues {
  readonly #client: SQSClient;
  readonly #urls = new Map<string, Promise<string>>();

  constructor(client: SQSClient) {
    this.#client = client;
  }

  url(name: string): Promise<string> {
    let url = this.#urls.get(name);
    if (!url) {
      url = this.#client.send(new GetQueueUrlCommand({ QueueName: name })).then((r) => {
        if (!r.QueueUrl) throw new Error(`SQS GetQueueUrl answered no URL for queue "${name}"`);
        return r.QueueUrl;
      });
      this.#urls.set(name, url);
      url.catch(() => {
        if (this.#urls.get(name) === url) this.#urls.delete(name);
      });
    }
    return url;
  }

  forget(name: string): void {
    this.#urls.delete(name);
  }
}
