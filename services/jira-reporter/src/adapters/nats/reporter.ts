import {
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JetStreamClient,
  type JsMsg,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { Kvm } from '@nats-io/kv';
import type { Logger } from 'pino';
import {
  consumeEventType,
  ensureStream,
  inConsumerSpan,
  JIRA_CONSUMER,
  JIRA_DEAD_PREFIX,
  JIRA_DEAD_STREAM,
  JIRA_DELIVERED_BUCKET,
  JIRA_OUTCOMES_STREAM,
  jiraDeadSubject,
  JiraOutcome,
  jiraOutcomeSubject,
  packValue,
  streamReplicas,
  unpackValue,
} from '#shared/nats/index.js';
import { backoffMs, planReport, type JiraReport } from '../../domain/report.js';
import { deliver } from '../http/webtrigger.js';
import type { JiraConfig } from '../../config.js';
import { ledgerQueries, request } from '#shared/contracts/index.js';
import { validateEvent, type SessionEnded } from '#shared/events/index.js';

export const CONSUMER = JIRA_CONSUMER;
/** Session Ended ids whose report the webtrigger accepted (a day: longer than any redelivery). */
const DELIVERED_BUCKET = JIRA_DELIVERED_BUCKET;
const DELIVERED_TTL_MS = 24 * 60 * 60 * 1000;
export const DEAD_LETTER_STREAM = JIRA_DEAD_STREAM;
export const deadLetterSubject = jiraDeadSubject;

/** What a parked delivery holds: the report itself and why it failed; replayable as is. */
export interface DeadLetter {
  event_id: string;
  report: JiraReport;
  last_error: string;
  attempts: number;
  parked_at: string;
}

/** The dead-letter stream and the outcomes stream (deduplicated for an hour: redeliveries come sooner). */
export async function ensureReporterStreams(nc: NatsConnection): Promise<void> {
  await ensureStream(nc, DEAD_LETTER_STREAM, [`${JIRA_DEAD_PREFIX}.>`]);
  await ensureStream(nc, JIRA_OUTCOMES_STREAM, [jiraOutcomeSubject('*')]);
}

/**
 * Records an outcome before the event is acknowledged: a crash in between redelivers the
 * event, and the same id makes the second record a duplicate the stream drops.
 */
async function recordOutcome(
  js: JetStreamClient,
  eventId: string,
  outcome: JiraOutcome,
  attempt?: number,
): Promise<void> {
  const id = attempt === undefined ? `${eventId}:${outcome}` : `${eventId}:${outcome}:${attempt}`;
  await js.publish(jiraOutcomeSubject(outcome), packValue({ event_id: eventId, at: Date.now() }), { msgID: id });
}

/**
 * Delivers every Session Ended with a Jira key, once, from a durable consumer: the event is
 * acknowledged only after the webtrigger accepted it (or it was parked), so kill -9 at any
 * point loses nothing; a failure is retried with backoff and jitter (nak with delay) until
 * JIRA_RETRY_FOR after the session ended, then parked in the dead-letter stream.
 */
export async function runReporter(
  nc: NatsConnection,
  cfg: JiraConfig,
  log: Logger,
  random: () => number = Math.random,
): Promise<ConsumerMessages> {
  await ensureReporterStreams(nc);
  const js = jetstream(nc);
  const delivered = await new Kvm(nc).create(DELIVERED_BUCKET, {
    history: 1,
    ttl: DELIVERED_TTL_MS,
    replicas: streamReplicas(nc),
    description: 'Session Ended ids whose Jira report was accepted',
  });
  // An accepted report's mark must be stored before its event is acknowledged: a lost
  // acknowledgement (a replica killed, a NATS node lost) redelivers it, and the mark — on
  // whichever replica gets it — is what keeps it from being posted twice.
  const mark = async (eventId: string): Promise<void> => {
    for (let i = 0; ; i++) {
      try {
        await delivered.put(eventId, '1');
        return;
      } catch (err) {
        if (i >= 100) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  };
  // The ack wait covers one delivery (its timer is reset just before the POST): a replica killed
  // mid-report has its events redelivered to the other that soon.
  const msgs = await consumeEventType(nc, CONSUMER, 'SessionEnded', cfg.JIRA_TIMEOUT_MS + 10_000, 8);
  void (async () => {
    for await (const m of msgs) {
      await inConsumerSpan(m, CONSUMER, () => handle(m)).catch((err: unknown) => {
        log.warn({ err }, 'Jira report failed unexpectedly; will retry');
        m.nak(5000);
      });
    }
  })();

  async function handle(m: JsMsg): Promise<void> {
    let ev: SessionEnded;
    try {
      const e = validateEvent(unpackValue(m.data));
      if (e.type !== 'SessionEnded') throw new Error(`a ${e.type} event on the Session Ended subject`);
      ev = e;
    } catch (err) {
      log.warn({ seq: m.seq, err }, 'skipped a garbled Session Ended message');
      m.term();
      return;
    }
    const r = await request(nc, ledgerQueries.session, {
      id: ev.session_id,
    });
    if (!r.session) {
      log.warn({ session_id: ev.session_id }, 'Session Ended for a session the ledger does not know; not reported');
      await recordOutcome(js, ev.id, JiraOutcome.skipped);
      m.ack();
      return;
    }
    if (await delivered.get(ev.id)) {
      log.debug({ session_id: ev.session_id }, 'Jira report already delivered (a redelivered event); not posted again');
      await recordOutcome(js, ev.id, JiraOutcome.delivered);
      m.ack();
      return;
    }
    const plan = planReport(r.session, ev.data.session_duration ?? 0, ev.time);
    if (plan.kind === 'skip') {
      log.debug({ session_id: ev.session_id, branch_name: r.session.branch_name }, `Jira report skipped: ${plan.why}`);
      await recordOutcome(js, ev.id, JiraOutcome.skipped);
      m.ack();
      return;
    }
    m.working();
    const out = await deliver(cfg.JIRA_WEBTRIGGER_URL, plan.report, ev.id, cfg.JIRA_TIMEOUT_MS);
    const attempt = m.info.deliveryCount;
    if (out.ok) {
      await mark(ev.id);
      await recordOutcome(js, ev.id, JiraOutcome.delivered);
      await m.ackAck();
      const link =
        out.link ??
        (cfg.JIRA_BROWSE_URL
          ? `${cfg.JIRA_BROWSE_URL.replace(/\/?$/, '/')}${plan.report.issue_key}`
          : plan.report.issue_key);
      log.debug(
        { session_id: ev.session_id, issue_key: plan.report.issue_key, issue: link, attempt },
        `Jira issue ${link} updated with the session`,
      );
      return;
    }
    const age = Date.now() - ev.time;
    if (age >= cfg.JIRA_RETRY_FOR) {
      const dead: DeadLetter = {
        event_id: ev.id,
        report: plan.report,
        last_error: out.detail,
        attempts: attempt,
        parked_at: new Date().toISOString(),
      };
      await js.publish(deadLetterSubject(ev.session_id), packValue(dead), { msgID: ev.id });
      await recordOutcome(js, ev.id, JiraOutcome.failed, attempt);
      await recordOutcome(js, ev.id, JiraOutcome.parked);
      m.ack();
      log.warn(
        { session_id: ev.session_id, issue_key: plan.report.issue_key, error: out.detail, attempts: attempt },
        'Jira report failed for JIRA_RETRY_FOR; parked in the dead-letter stream (kubectl mirrord jira retry)',
      );
      return;
    }
    const delay = Math.min(
      backoffMs(attempt - 1, cfg.JIRA_RETRY_MAX_DELAY, random),
      Math.max(0, cfg.JIRA_RETRY_FOR - age),
    );
    log.warn(
      {
        session_id: ev.session_id,
        issue_key: plan.report.issue_key,
        error: out.detail,
        attempt,
        retry_in_ms: delay,
        // Its host only: a webtrigger URL's path is its credential.
        webtrigger: new URL(cfg.JIRA_WEBTRIGGER_URL).host,
      },
      'Jira report failed; will retry',
    );
    await recordOutcome(js, ev.id, JiraOutcome.failed, attempt);
    m.nak(delay);
  }
  return msgs;
}

/**
 * Replays the dead-letter stream (`kubectl mirrord jira retry`): each parked report is
 * delivered again with its original idempotency key and removed once accepted.
 */
export async function retryDeadLetters(
  nc: NatsConnection,
  cfg: JiraConfig,
  log: Logger,
): Promise<{ delivered: number; failed: number; errors: string[] }> {
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const info = await jsm.streams.info(DEAD_LETTER_STREAM);
  let delivered = 0;
  let failed = 0;
  const errors: string[] = [];
  for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
    const sm = await jsm.streams.getMessage(DEAD_LETTER_STREAM, { seq }).catch(() => undefined);
    if (!sm) continue;
    const dead = unpackValue(sm.data) as DeadLetter;
    const out = await deliver(cfg.JIRA_WEBTRIGGER_URL, dead.report, dead.event_id, cfg.JIRA_TIMEOUT_MS);
    if (out.ok) {
      await recordOutcome(js, dead.event_id, JiraOutcome.delivered);
      await jsm.streams.deleteMessage(DEAD_LETTER_STREAM, seq);
      delivered++;
      log.debug(
        { session_id: dead.report.session_id, issue_key: dead.report.issue_key },
        'parked Jira report delivered',
      );
    } else {
      failed++;
      errors.push(`${dead.report.session_id} (${dead.report.issue_key}): ${out.detail}`);
    }
  }
  return { delivered, failed, errors };
}
