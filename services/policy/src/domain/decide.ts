import { invalid } from '#shared/errors/index.js';
import { parseMirrordConfig, type HttpFilter } from '#shared/mirrord-config/index.js';
import { checkIncoming, decideStart, type Decision, type Denial } from '#shared/policy/index.js';
import type { PolicySet, TargetFacts } from '#shared/policy/index.js';
import type { ProfileSet } from '#shared/policy/index.js';

/**
 * The policy service's two questions, from untrusted request bodies: may this session start
 * (and with which effective config), and may it steal/mirror this port.
 */
export interface Governance {
  policies: PolicySet;
  profiles: ProfileSet;
}

const str = (v: unknown, field: string): string => {
  if (typeof v !== 'string' || v === '') throw invalid(field, 'is required (a string)');
  return v;
};

function factsOf(body: Record<string, unknown>, copyTarget: boolean): TargetFacts {
  const labels = body.labels ?? {};
  if (
    typeof labels !== 'object' ||
    labels === null ||
    Array.isArray(labels) ||
    !Object.values(labels).every((v) => typeof v === 'string')
  )
    throw invalid('labels', 'expected an object of string labels');
  return {
    namespace: str(body.namespace, 'namespace'),
    path: str(body.target, 'target'),
    labels: labels as Record<string, string>,
    copyTarget,
  };
}

export function decideStartRequest(g: Governance, body: Record<string, unknown>): Decision {
  const configGiven = body.config !== undefined && body.config !== null;
  const config = parseMirrordConfig(configGiven ? body.config : {}, 'config');
  const t = factsOf(body, config.feature.copy_target.enabled);
  const selected = typeof body.profile === 'string' && body.profile !== '' ? body.profile : config.profile;
  const profile = selected === undefined ? undefined : g.profiles.resolve(selected, t.namespace);
  return decideStart(g.policies.applicable(t), { target: t, config, configGiven, ...(profile ? { profile } : {}) });
}

export function decidePortRequest(
  g: Governance,
  body: Record<string, unknown>,
): { denied_by: Denial[]; applied: string[] } {
  const mode = body.mode;
  if (mode !== 'steal' && mode !== 'mirror')
    throw invalid('mode', `expected "steal" | "mirror", got ${JSON.stringify(mode)}`);
  const config = parseMirrordConfig(body.config ?? {}, 'config');
  let filter: HttpFilter | undefined;
  if (body.http_filter !== undefined && body.http_filter !== null)
    filter = parseMirrordConfig(
      { feature: { network: { incoming: { http_filter: body.http_filter } } } },
      'http_filter',
    ).feature.network.incoming.http_filter;
  const t = factsOf(body, config.feature.copy_target.enabled);
  const applicable = g.policies.applicable(t);
  return { denied_by: checkIncoming(applicable, t, mode, filter), applied: applicable.map((p) => p.id) };
}
