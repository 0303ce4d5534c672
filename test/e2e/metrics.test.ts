import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { jetstream } from '@nats-io/jetstream';
import { SessionClient, startSystem, type System } from '../support/system.js';
import { call, commandSubject } from '#shared/nats/index.js';
import { eventually } from '../support/eventually.js';

/** The seed's Prometheus metrics, derived from the event log, across a gateway restart. */
describe('metrics: /metrics from the event log, restart-safe and redelivery-safe', () => {
  let sys: System;
  let metricsUrl = '';
  before(async () => {
    sys = await startSystem({ OPERATOR_METRICS_ENABLED: 'true', OPERATOR_METRICS_ADDR: '127.0.0.1:0' });
    metricsUrl = String(sys.gateway.lines.find((l) => l.msg === 'gateway ready')?.metrics);
  });
  after(async () => {
    await sys?.stop();
  });

  const scrape = async () => await (await fetch(metricsUrl)).text();
  /** The counters and histogram counts (not gauges, which are live by nature). */
  const totals = (text: string) =>
    text
      .split('\n')
      .filter((l) =>
        /^(mirrord_sessions_create_total|mirrord_sessions_duration_(bucket|count|sum)|mirrord_teams_rejections_total)\{/.test(
          l,
        ),
      )
      .sort()
      .join('\n');
  const value = (text: string, re: RegExp) =>
    text
      .split('\n')
      .filter((l) => re.test(l))
      .reduce((a, l) => a + Number(l.split(' ').at(-1)), 0);

  it('scrape after 50 sessions, restart the gateway, scrape again: identical counters and histogram counts', async () => {
    for (let i = 0; i < 50; i++) {
      const c = await SessionClient.connect(sys, {
        token: i % 2 ? 'alice-token' : 'aviram-token',
        target: `deployment.app-${i % 5}`,
      });
      await c.client!.sessionId();
      if (i % 10 === 0) await c.client!.subscribe('steal', 80);
      await c.client!.close();
    }
    // A policy denial as the gateway records it (token-file mode has no policies to deny with).
    const nc = await sys.nats.connect();
    await call(nc, commandSubject('ledger', 'reject'), {
      session_id: '00000000000000AA',
      target: 'deployment/app-0',
      namespace: 'default',
      client: {
        client_user: 'alice',
        client_name: 'Alice',
        client_hostname: 'alice-mbp',
        client_id: '',
        user_id: '',
        client_cli_version: '',
      },
      asked: 'start',
      code: 'Forbidden',
      message: 'steal is forbidden by the mirrord policy "default/p"',
      policy: 'default/p',
    });
    await nc.close();
    const holder = await SessionClient.connect(sys, { token: 'aviram-token', target: 'deployment.app-0' });
    await holder.client!.sessionId();
    await holder.client!.subscribe('steal', 80);
    // Let the follower see the last events.
    const first = await eventually('the follower has seen the last events', async () => {
      const text = await scrape();
      return value(text, /^mirrord_sessions_create_total\{/) === 51 &&
        value(text, /^mirrord_sessions_duration_count\{/) === 50 &&
        value(text, /^mirrord_teams_rejections_total\{/) === 1
        ? text
        : undefined;
    });
    assert.equal(value(first, /^mirrord_sessions_create_total\{/), 51);
    assert.equal(value(first, /^mirrord_sessions_duration_count\{/), 50);
    assert.match(
      first,
      /^mirrord_sessions_create_total\{client_hostname="alice-mbp",client_name="Alice",client_user="alice",user_id=""\} 25$/m,
    );
    assert.match(first, /^mirrord_sessions_duration_bucket\{[^}]*le="\+Inf"\} \d+$/m);
    assert.match(first, /^mirrord_teams_rejections_total\{policy="default\/p",code="Forbidden"\} 1$/m);
    assert.match(first, /^mirrord_teams_active_sessions 1$/m);
    assert.match(first, /^mirrord_teams_held_ports\{type="steal"\} 1$/m);
    assert.match(first, /^# TYPE mirrord_teams_consumer_lag gauge$/m); // no durable consumers without a cluster
    // Every start, port subscribe, end and the rejection went through a group commit.
    const appended = value(first, /^mirrord_teams_ledger_append_seconds_count /);
    assert.ok(appended >= 51 + 50 + 6 + 1, `append latency observed for each command: ${appended}`);
    assert.equal(value(first, /^mirrord_teams_ledger_append_seconds_bucket\{le="\+Inf"\}/), appended);
    assert.ok(value(first, /^mirrord_teams_ledger_append_seconds_sum /) > 0);
    assert.doesNotMatch(first, /^mirrord_teams_jira_deliveries_total/m, 'no jira-reporter here: no outcome series');

    await holder.client!.close();
    const settled = await eventually("the holder's end counted", async () => {
      const text = await scrape();
      return value(text, /^mirrord_sessions_duration_count\{/) === 51 ? text : undefined;
    });
    await sys.gateway.stop();
    await sys.restartGateway();
    metricsUrl = String(sys.gateway.lines.find((l) => l.msg === 'gateway ready')?.metrics);
    const second = await scrape();
    assert.equal(value(second, /^mirrord_sessions_duration_count\{/), 51);
    assert.equal(totals(second), totals(settled));
  });

  it('a redelivered event does not change them; a new one counts once', async () => {
    const nc = await sys.nats.connect();
    const js = jetstream(nc);
    const jsm = await js.jetstreamManager();
    const info = await jsm.streams.info('MIRRORD_EVENTS');
    // Re-publish the newest Session Started under a new message id: JetStream stores it again,
    // as a replay or a re-publish after the dedupe window would.
    let copied = false;
    for (let seq = info.state.last_seq; seq > 0 && !copied; seq--) {
      const m = await jsm.streams.getMessage('MIRRORD_EVENTS', { seq });
      if (!m || !m.subject.startsWith('mirrord.events.SessionStarted.')) continue;
      await js.publish(m.subject, m.data, { msgID: `redelivery-${seq}` });
      copied = true;
    }
    assert.ok(copied);
    // The follower reads the stream in order: once the session started after the copy is
    // counted, the copy has been seen too, and it must not have counted.
    const c = await SessionClient.connect(sys, { token: 'alice-token', target: 'deployment.late' });
    await c.client!.sessionId();
    await c.client!.close();
    const after = await eventually('the late session counted', async () => {
      const text = await scrape();
      return value(text, /^mirrord_sessions_duration_count\{/) === 52 ? text : undefined;
    });
    assert.equal(value(after, /^mirrord_sessions_create_total\{/), 52);
    await nc.close();
  });
});
