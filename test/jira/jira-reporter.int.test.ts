import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { call, commandSubject, EVENTS_STREAM } from '#shared/nats/index.js';
import { eventually } from '../support/eventually.js';
import { newSessionId } from '#shared/ids/index.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { startService, type ServiceProcess } from '../support/service-process.js';
import { tempDir } from '../support/tmp.js';
import { jiraOutcomes } from '../../services/gateway/src/adapters/metrics/jira-outcomes.js';

/** A stand-in for the Forge webtrigger: records every POST; its behaviour can be switched. */
class Receiver {
  readonly posts: Array<{ key: string; body: Record<string, unknown> }> = [];
  mode: 'ok' | 'fail' | 'hang' = 'ok';
  server!: Server;
  url = '';
  async start(): Promise<void> {
    this.server = createServer((req: IncomingMessage, res) => {
      let b = '';
      req.on('data', (c: Buffer) => (b += c.toString()));
      req.on('end', () => {
        if (this.mode === 'hang') return; // the reporter's timeout fires
        if (this.mode === 'fail') {
          res.writeHead(500).end('forge is down');
          return;
        }
        this.posts.push({
          key: String(req.headers['idempotency-key']),
          body: JSON.parse(b) as Record<string, unknown>,
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    const a = this.server.address();
    this.url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/x/webtrigger`;
  }
  keys(): Set<string> {
    return new Set(this.posts.map((p) => p.key));
  }
  async until(pred: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
    await eventually(`${what} (${this.posts.length} posts so far)`, pred, timeoutMs, 50);
  }
}

const client = (user: string) => ({
  client_user: user,
  client_name: 'Dev',
  client_hostname: 'laptop',
  client_id: '',
  user_id: '',
  client_cli_version: '3.150.0',
});

describe('jira-reporter: Session Ended → Forge webtrigger, once, durably', () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let ledger: ServiceProcess;
  let reporter: ServiceProcess;
  const rx = new Receiver();
  let env: Record<string, string>;

  before(async () => {
    nats = await startNatsServer();
    await rx.start();
    const dir = tempDir('jira');
    env = { ...nats.env, LEDGER_DB: `sqlite:${join(dir, 'ledger.db')}`, SESSION_UNUSED_TTL: '600' };
    ledger = await startService('ledger', env);
    reporter = await startService('jira-reporter', {
      ...env,
      JIRA_WEBTRIGGER_URL: rx.url,
      JIRA_RETRY_FOR: '8s',
      JIRA_RETRY_MAX_DELAY: '1s',
      JIRA_TIMEOUT_MS: '500',
      LOG_LEVEL: 'debug',
    });
    nc = await nats.connect();
  });
  after(async () => {
    await nc?.close();
    await reporter?.stop();
    // Teardown: a SIGTERM would wait out the ledger's fleet usage drain (test/support/system.ts).
    await ledger?.kill9();
    rx.server?.close();
    await nats?.[Symbol.asyncDispose]();
  });

  /** The positive signal that the reporter has handled every ended session: its durable consumer has nothing pending. */
  async function drained(): Promise<void> {
    const jsm = await jetstreamManager(nc);
    await eventually(
      'jira-reporter has acknowledged every Session Ended',
      async () => {
        const ci = await jsm.consumers.info(EVENTS_STREAM, 'jira-reporter');
        return ci.num_pending + ci.num_ack_pending === 0;
      },
      60_000,
    );
  }

  /** `mirrord_teams_jira_deliveries_total` as the gateway's /metrics reads it, once it stops moving. */
  async function outcomes(expect: (o: Record<string, number>) => boolean): Promise<Record<string, number>> {
    let o: Record<string, number> = {};
    await eventually('the outcome counts', async () => expect((o = await jiraOutcomes(nc)))).catch(() => undefined);
    // Compared by the caller, so a mismatch shows the counts rather than a timeout.
    return o;
  }

  async function session(branch: string | undefined, user = 'dev'): Promise<string> {
    const id = newSessionId();
    await call(nc, commandSubject('ledger', 'start'), {
      session_id: id,
      target: 'deployment/app',
      namespace: 'default',
      client: client(user),
      agent: 'none',
      ...(branch ? { branch_name: branch, key: 'do-not-send-me' } : {}),
    });
    await call(nc, commandSubject('ledger', 'end'), { session_id: id, client_user: user, reason: 'ClientClosed' });
    return id;
  }

  it('100 sessions with keys → 100 deliveries, each once, carrying nothing but the report', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 100; i++) ids.add(await session(`feature-KEY-${i + 1}-work`));
    await rx.until(() => rx.posts.length >= 100, '100 deliveries');
    await drained();
    assert.equal(rx.posts.length, 100, 'no repeats');
    assert.equal(rx.keys().size, 100);
    assert.deepEqual(new Set(rx.posts.map((p) => p.body.session_id)), ids);
    for (const p of rx.posts) {
      assert.deepEqual(Object.keys(p.body).sort(), [
        'duration_secs',
        'ended_at',
        'issue_key',
        'namespace',
        'session_id',
        'started_at',
        'target',
        'user',
      ]);
      assert.match(String(p.body.issue_key), /^KEY-\d+$/);
      assert.ok(!JSON.stringify(p.body).includes('do-not-send-me'));
    }
    assert.ok(
      reporter.lines.some(
        (l) => /^Jira issue KEY-\d+ updated with the session$/.test(String(l.msg)) && l.level === 'debug',
      ),
    );
    assert.deepEqual(await outcomes((o) => o.delivered === 100), { delivered: 100, skipped: 0, failed: 0, parked: 0 });
  });

  it('no branch, or a branch without a key: no call, a DEBUG line saying why', async () => {
    const before = rx.posts.length;
    const a = await session(undefined);
    const b = await session('main');
    const la = await reporter.waitFor((l) => l.session_id === a && String(l.msg).startsWith('Jira report skipped'));
    assert.equal(la.level, 'debug');
    assert.match(String(la.msg), /no branch name was received/);
    const lb = await reporter.waitFor((l) => l.session_id === b && String(l.msg).startsWith('Jira report skipped'));
    assert.match(String(lb.msg), /branch "main" holds no Jira issue key/);
    assert.equal(rx.posts.length, before);
    assert.deepEqual(await outcomes((o) => o.skipped === 2), { delivered: 100, skipped: 2, failed: 0, parked: 0 });
  });

  it('a receiver failing (500, then timeouts) for a while: WARN with details, then every report delivered once', async () => {
    rx.mode = 'fail';
    const ids = [await session('x-OPS-1'), await session('x-OPS-2'), await session('x-OPS-3')];
    const warn = await reporter.waitFor(
      (l) => l.msg === 'Jira report failed; will retry' && ids.includes(String(l.session_id)),
    );
    assert.equal(warn.level, 'warn');
    assert.match(String(warn.error), /HTTP 500: forge is down/);
    rx.mode = 'hang';
    await reporter.waitFor(
      (l) => l.msg === 'Jira report failed; will retry' && /no answer within 500 ms/.test(String(l.error)),
    );
    rx.mode = 'ok';
    await rx.until(() => ids.every((id) => rx.posts.some((p) => p.body.session_id === id)), 'recovery');
    for (const id of ids)
      assert.equal(new Set(rx.posts.filter((p) => p.body.session_id === id).map((p) => p.key)).size, 1);
    const o = await outcomes((x) => x.delivered === 103);
    assert.equal(o.delivered, 103);
    assert.ok(o.failed! >= 2, `a failed attempt counts each time (500 and timeout): ${o.failed}`);
    failedBefore = o.failed!;
  });
  let failedBefore = 0;

  it('kill -9 of jira-reporter mid-run loses nothing', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push(await session(`k9-DEV-${i + 1}`));
    await reporter.kill9();
    for (let i = 30; i < 40; i++) ids.push(await session(`k9-DEV-${i + 1}`));
    reporter = await startService('jira-reporter', {
      ...env,
      JIRA_WEBTRIGGER_URL: rx.url,
      JIRA_RETRY_FOR: '8s',
      JIRA_RETRY_MAX_DELAY: '1s',
      JIRA_TIMEOUT_MS: '500',
      LOG_LEVEL: 'debug',
    });
    await rx.until(
      () => ids.every((id) => rx.posts.some((p) => p.body.session_id === id)),
      'all 40 after the restart',
      90_000,
    );
    // A report accepted just before the kill may come again, with the same idempotency key.
    for (const id of ids)
      assert.equal(new Set(rx.posts.filter((p) => p.body.session_id === id).map((p) => p.key)).size, 1);
    // ...and its outcome is counted once: the outcome stream drops the repeated id.
    await drained();
    assert.deepEqual(await outcomes((o) => o.delivered === 143), {
      delivered: 143,
      skipped: 2,
      failed: failedBefore,
      parked: 0,
    });
  });

  it('after JIRA_RETRY_FOR a report is parked; kubectl mirrord jira retry (the command) delivers it', async () => {
    rx.mode = 'fail';
    const id = await session('park-BUG-7');
    const parked = await reporter.waitFor(
      (l) => l.session_id === id && String(l.msg).startsWith('Jira report failed for JIRA_RETRY_FOR'),
      30_000,
    );
    assert.equal(parked.level, 'warn');
    rx.mode = 'ok';
    // A report ended after the parked one is delivered: the reporter is working, and still
    // has not sent the parked one.
    const later = await session('later-BUG-8');
    await rx.until(() => rx.posts.some((p) => p.body.session_id === later), 'the later report');
    await drained();
    assert.ok(!rx.posts.some((p) => p.body.session_id === id), 'a parked report waits for the retry');
    const r = await call<{ delivered: number; failed: number }>(
      nc,
      commandSubject('jira-reporter', 'retry'),
      {},
      30_000,
    );
    assert.deepEqual([r.delivered, r.failed], [1, 0]);
    assert.ok(rx.posts.some((p) => p.body.session_id === id && p.body.issue_key === 'BUG-7'));
    const again = await call<{ delivered: number }>(nc, commandSubject('jira-reporter', 'retry'), {}, 30_000);
    assert.equal(again.delivered, 0, 'removed from the dead-letter stream once delivered');
    const o = await outcomes((x) => x.delivered === 145);
    assert.deepEqual([o.delivered, o.parked], [145, 1]);
    assert.ok(o.failed! > failedBefore);
  });

  it('a Session Ended seen again after its report was accepted (a lost ack, a re-publish) is not posted twice', async () => {
    // given a report delivered and acknowledged
    const id = await session('feature-KEY-777-again');
    await rx.until(() => rx.posts.some((p) => p.body.session_id === id), 'the first delivery');
    await drained();
    const before = rx.posts.length;
    // when its event reaches the reporter again (re-published past the stream's dedupe, as a
    // redelivery after a lost acknowledgement would bring it)
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const ended = (await jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: `mirrord.events.SessionEnded.${id}` }))!;
    await js.publish(ended.subject, ended.data, { msgID: `${ended.header.get('Nats-Msg-Id')}-again` });
    // then it is acknowledged without a second POST
    await reporter.waitFor((l) => l.session_id === id && /already delivered/.test(String(l.msg)));
    await drained();
    assert.equal(rx.posts.length, before);
  });
});
