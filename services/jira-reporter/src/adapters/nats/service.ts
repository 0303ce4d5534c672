import { Svcm, type Service } from '@nats-io/services';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { jiraContracts, serveContract } from '#shared/contracts/index.js';
import type { JiraConfig } from '../../config.js';
import { retryDeadLetters } from './reporter.js';

export const SERVICE = 'jira-reporter';

/** `mirrord.cmd.jira-reporter.retry`: replay the dead-letter stream now. */
export async function serveJiraReporter(
  nc: NatsConnection,
  cfg: JiraConfig,
  log: Logger,
  version: string,
): Promise<Service> {
  const svc = await new Svcm(nc).add({
    name: SERVICE,
    version,
    queue: SERVICE,
    description: 'Jira Forge webtrigger delivery of ended sessions',
  });
  serveContract(
    svc,
    'cmd-retry',
    jiraContracts.retry,
    () => retryDeadLetters(nc, cfg, log),
    (f, m) => log.error(f, m),
  );
  return svc;
}
