import { AppError, ErrorCode } from '../errors/index.js';
import type { MirrordConfig } from '../mirrord-config/index.js';
import type { Adjustment, ProfileSpec } from './spec.js';

export interface Profile {
  /** `name` (MirrordClusterProfile) or `namespace/name` (MirrordProfile): how users select it. */
  id: string;
  kind: 'MirrordProfile' | 'MirrordClusterProfile';
  spec: ProfileSpec;
}

export class ProfileSet {
  readonly #profiles = new Map<string, Profile>();

  upsert(p: Profile): void {
    this.#profiles.set(p.id, p);
  }

  remove(id: string): void {
    this.#profiles.delete(id);
  }

  /** The selected profile; unknown names and other namespaces' profiles are clear errors. */
  resolve(selected: string, targetNamespace: string): Profile {
    const p = this.#profiles.get(selected);
    const slash = selected.indexOf('/');
    if (!p) {
      const where =
        slash < 0
          ? `no MirrordClusterProfile named "${selected}"`
          : `no MirrordProfile "${selected.slice(slash + 1)}" in namespace "${selected.slice(0, slash)}"`;
      const known = [...this.#profiles.keys()].sort();
      throw new AppError(ErrorCode.NotFound, `profile "${selected}" not found: ${where}`, {
        field: 'profile',
        hint: known.length
          ? `known profiles: ${known.join(', ')}`
          : 'no profiles exist; create one (kubectl apply -f profile.yaml) or remove "profile" from the config',
      });
    }
    if (slash >= 0 && selected.slice(0, slash) !== targetNamespace)
      throw new AppError(
        ErrorCode.Invalid,
        `profile "${selected}" is a MirrordProfile of namespace "${selected.slice(0, slash)}" and is only available to targets there, not in "${targetNamespace}"`,
        {
          field: 'profile',
          hint: "select a profile of the target's namespace or a cluster profile",
        },
      );
    return p;
  }

  get size(): number {
    return this.#profiles.size;
  }
}

/** The profile's featureAdjustments, applied in order to a copy of the config. */
export function applyProfile(config: MirrordConfig, profile: Profile): MirrordConfig {
  const c = structuredClone(config);
  const net = c.feature.network;
  for (const { change } of profile.spec.featureAdjustments ?? []) {
    switch (change as Adjustment) {
      case 'incoming-mirror':
        net.incoming.mode = 'mirror';
        break;
      case 'incoming-steal':
        net.incoming.mode = 'steal';
        break;
      case 'incoming-off':
        net.incoming.mode = 'off';
        break;
      case 'dns-remote':
        net.dns = { enabled: true };
        break;
      case 'dns-off':
        net.dns = { enabled: false };
        break;
      case 'outgoing-remote':
        net.outgoing = { ...net.outgoing, tcp: true, udp: true };
        delete net.outgoing.filter;
        break;
      case 'outgoing-off':
        net.outgoing = { ...net.outgoing, tcp: false, udp: false };
        delete net.outgoing.filter;
        break;
    }
  }
  c.profile = profile.id;
  return c;
}
