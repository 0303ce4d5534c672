import type { LabelledObject } from '../../domain/cleanup.js';
import { ROLE_LABEL, SESSION_LABEL } from '../../domain/manifests.js';
import { usersOf } from '../../domain/shared-agents.js';
import type { AgentManagerDeps } from '../ports.js';

/** Copies among `objects` that another live session shares pass to it; their `namespace/name`. */
export async function handOverShared(
  { cluster, ledger, log }: Pick<AgentManagerDeps, 'cluster' | 'ledger' | 'log'>,
  objects: LabelledObject[],
): Promise<Set<string>> {
  const handed = new Set<string>();
  for (const o of objects) {
    if (o.kind !== 'Pod' || o.labels[ROLE_LABEL] !== 'copy') continue;
    const owner = o.labels[SESSION_LABEL]!;
    for (const u of usersOf(o.labels).filter((x) => x !== owner)) {
      if ((await ledger.status(u)) !== 'live') continue;
      if (await cluster.handOverCopy(o.namespace, o.name, owner, u)) {
        log.info({ copy_pod: o.name, from: owner, to: u }, 'copy handed to the session sharing it');
        handed.add(`${o.namespace}/${o.name}`);
      }
      break;
    }
  }
  return handed;
}
