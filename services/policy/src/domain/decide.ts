import { parseMirrordConfig, type HttpFilter } from '#shared/mirrord-config/index.js';
import { checkIncoming, decideStart, type Decision, type PortDecision } from '#shared/policy/index.js';
import type { PolicySet, TargetFacts } from '#shared/policy/index.js';
import type { ProfileSet } from '#shared/policy/index.js';
import type { PortFacts, StartFacts } from '#shared/contracts/index.js';

/**
 * The policy service's two questions, on requests its contracts already parsed: may this
 * session start (and with which effective config), and may it steal/mirror this port.
 */
export interface Governance {
  policies: PolicySet;
  profiles: ProfileSet;
}

const factsOf = (req: StartFacts, copyTarget: boolean): TargetFacts => ({
  namespace: req.namespace,
  path: req.target,
  labels: req.labels,
  copyTarget,
});

export function decideStartRequest(g: Governance, req: StartFacts): Decision {
  const configGiven = req.config !== undefined;
  const config = parseMirrordConfig(req.config ?? {}, 'config');
  const t = factsOf(req, config.feature.copy_target.enabled);
  const selected = req.profile !== undefined && req.profile !== '' ? req.profile : config.profile;
  const profile = selected === undefined ? undefined : g.profiles.resolve(selected, t.namespace);
  return decideStart(g.policies.applicable(t), { target: t, config, configGiven, ...(profile ? { profile } : {}) });
}

export function decidePortRequest(g: Governance, req: PortFacts): PortDecision {
  const config = parseMirrordConfig(req.config ?? {}, 'config');
  let filter: HttpFilter | undefined;
  if (req.http_filter !== undefined && req.http_filter !== null)
    filter = parseMirrordConfig({ feature: { network: { incoming: { http_filter: req.http_filter } } } }, 'http_filter')
      .feature.network.incoming.http_filter;
  const t = factsOf(req, config.feature.copy_target.enabled);
  const applicable = g.policies.applicable(t);
  return { denied_by: checkIncoming(applicable, t, req.mode, filter), applied: applicable.map((p) => p.id) };
}
