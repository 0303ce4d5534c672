import type { NatsConnection } from '@nats-io/nats-core';
import { queueSplitterContracts, request } from '#shared/contracts/index.js';
import type { QueueSplitter } from '../../domain/interfaces.js';

/** The queue splitter over its NATS contract (a session's splits, before its socket is accepted). */
export class NatsQueueSplitter implements QueueSplitter {
  constructor(private readonly nc: NatsConnection) {}

  split(req: Parameters<QueueSplitter['split']>[0]) {
    return request(this.nc, queueSplitterContracts.split, req);
  }

  async release(sessionId: string): Promise<void> {
    await request(this.nc, queueSplitterContracts.release, { session_id: sessionId });
  }
}
