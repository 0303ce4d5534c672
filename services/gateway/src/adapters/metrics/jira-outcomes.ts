import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { JIRA_OUTCOME_PREFIX, JIRA_OUTCOMES_STREAM, JiraOutcome, jiraOutcomeSubject } from '#shared/nats/index.js';

/**
 * `mirrord_teams_jira_deliveries_total{outcome}`, counted by the stream itself: messages per
 * outcome subject. The jira-reporter records each outcome once (deduplicated by id), so the
 * counts survive restarts of the reporter, the gateway and NATS. Empty without a reporter.
 */
export async function jiraOutcomes(nc: NatsConnection): Promise<Record<string, number>> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams
    .info(JIRA_OUTCOMES_STREAM, { subjects_filter: jiraOutcomeSubject('*') })
    .catch(() => undefined);
  if (!info) return {};
  // Every outcome is a series from the start, so a dashboard's rate() has something to read.
  const out: Record<string, number> = Object.fromEntries(Object.values(JiraOutcome).map((o) => [o, 0]));
  for (const [subject, n] of Object.entries(info.state.subjects ?? {}))
    out[subject.slice(JIRA_OUTCOME_PREFIX.length)] = n;
  return out;
}
