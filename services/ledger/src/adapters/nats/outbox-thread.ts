import { Worker } from 'node:worker_threads';
import type { StoredEvent } from '../../domain/store.js';
import type { FromWorker, OutboxWorkerData, ToWorker } from './outbox-worker.js';

/** The command loop's handle on the outbox relay thread. */
export class OutboxThread {
  readonly #worker: Worker;
  #drained: (() => void) | undefined;

  private constructor(worker: Worker) {
    this.#worker = worker;
  }

  static async start(data: OutboxWorkerData): Promise<OutboxThread> {
    const worker = new Worker(new URL('./outbox-worker-entry.mjs', import.meta.url), { workerData: data });
    const t = new OutboxThread(worker);
    await new Promise<void>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`outbox thread exited with ${code}`)));
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'error') reject(new Error(`outbox thread: ${m.message}`));
        else if (m.type === 'drained') t.#drained?.();
      });
    });
    return t;
  }

  enqueue(events: StoredEvent[]): void {
    this.#worker.postMessage({ type: 'events', events } satisfies ToWorker);
  }

  /** Publishes what is committed, then stops the thread. */
  async drain(timeoutMs = 8000): Promise<void> {
    const done = new Promise<void>((r) => (this.#drained = r));
    this.#worker.postMessage({ type: 'drain' } satisfies ToWorker);
    await Promise.race([done, new Promise((r) => setTimeout(r, timeoutMs))]);
    await this.#worker.terminate();
  }
}
