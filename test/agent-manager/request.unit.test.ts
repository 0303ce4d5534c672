import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parsePrepareRequest } from '../../services/agent-manager/src/domain/request.js';
import { parseConnectRequest } from '../../services/gateway/src/domain/connect-request.js';
import { agentManagerContracts } from '#shared/contracts/index.js';

/** The config's path to agent-manager: the gateway parses the connect, the contract carries the normalised parts. */
const prepare = (target: string, config: Record<string, unknown>) => {
  const req = parseConnectRequest(
    { namespace: 'default', name: target.replace('/', '.') },
    {},
    { 'x-mirrord-config': Buffer.from(JSON.stringify(config)).toString('base64') },
    () => '00000000000000AA',
  );
  const body = agentManagerContracts.prepare.request.parse({
    session_id: req.session_id,
    namespace: req.namespace,
    target,
    agent: req.agent,
    ...(req.copy_target ? { copy_target: req.copy_target } : {}),
    client: { client_user: 'alice' },
  });
  return parsePrepareRequest(body);
};

describe('agent-manager reads the mirrord config as the gateway and verify-config do', () => {
  it('given copy_target {"enabled": false}, when a session is prepared, then no copy is made', () => {
    assert.equal(
      prepare('deployment/app', { feature: { copy_target: { enabled: false, scale_down: true } } }).copy_target,
      undefined,
    );
  });
  it('given copy_target true or {scale_down}, then a copy is made as asked', () => {
    assert.deepEqual(prepare('deployment/app', { feature: { copy_target: true } }).copy_target, { scale_down: false });
    assert.deepEqual(prepare('deployment/app', { feature: { copy_target: { scale_down: true } } }).copy_target, {
      scale_down: true,
    });
  });
  it('given image_pull_secrets in the map form mirrord documents, then they reach the agent unchanged', () => {
    const secrets = [{ name: 'regcred' }, { 'secret-key': 'secret' }];
    assert.deepEqual(
      prepare('deployment/app', { agent: { image_pull_secrets: secrets } }).agent.image_pull_secrets,
      secrets,
    );
  });
});

describe('the agent section is read by one parser everywhere', () => {
  it('given an agent section agent-manager would refuse, then verify-config refuses it too, naming the field', async () => {
    const { verifyConfigValue, renderIssues } = await import('#shared/mirrord-config/index.js');
    const bad = verifyConfigValue({ agent: { disabled_capabilities: ['NET_FOO'] } });
    assert.ok(!bad.ok);
    assert.match(
      renderIssues(bad.issues),
      /^agent\.disabled_capabilities: expected a list of NET_ADMIN, NET_RAW, SYS_PTRACE, SYS_ADMIN/,
    );
    assert.throws(
      () => prepare('deployment/app', { agent: { disabled_capabilities: ['NET_FOO'] } }),
      /agent\.disabled_capabilities/,
    );
  });
  it('given what verify-config accepts (map-form secrets, an image as {registry, tag}), then agent-manager accepts it', async () => {
    const { verifyConfigValue } = await import('#shared/mirrord-config/index.js');
    const agent = {
      image: { registry: 'registry.local/mirrord', tag: '3.150.0' },
      image_pull_secrets: [{ 'secret-key': 'secret' }],
    };
    assert.ok(verifyConfigValue({ agent }).ok);
    assert.equal(prepare('deployment/app', { agent }).agent.image, 'registry.local/mirrord:3.150.0');
  });
});
