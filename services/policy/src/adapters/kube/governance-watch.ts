import {
  CustomObjectsApi,
  makeInformer,
  type Informer,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { renderIssues, toConfigIssues } from '#shared/mirrord-config/index.js';
import { compilePolicy } from '#shared/policy/index.js';
import type { Governance } from '../../domain/decide.js';
import { governanceDocument, POLICY_GROUP, PROFILE_GROUP, VERSION } from '#shared/policy/index.js';

const RESOURCES = [
  { kind: 'MirrordPolicy', group: POLICY_GROUP, plural: 'mirrordpolicies' },
  { kind: 'MirrordClusterPolicy', group: POLICY_GROUP, plural: 'mirrordclusterpolicies' },
  { kind: 'MirrordProfile', group: PROFILE_GROUP, plural: 'mirrordprofiles' },
  { kind: 'MirrordClusterProfile', group: PROFILE_GROUP, plural: 'mirrordclusterprofiles' },
] as const;

type Kind = (typeof RESOURCES)[number]['kind'];
const idOf = (kind: Kind, o: KubernetesObject) =>
  kind === 'MirrordPolicy' || kind === 'MirrordProfile'
    ? `${o.metadata?.namespace}/${o.metadata?.name}`
    : (o.metadata?.name ?? '');

/**
 * Keeps policies and profiles compiled in memory from client-node informers (list, then
 * watch; restarted after an error). A resource that does not validate is reported and left
 * out, never half-applied.
 */
export class GovernanceWatch {
  readonly #informers: Array<Informer<KubernetesObject>> = [];
  #stopped = false;

  constructor(
    private readonly kc: KubeConfig,
    private readonly g: Governance,
    private readonly log: Logger,
  ) {}

  #apply(kind: Kind, o: KubernetesObject): void {
    const id = idOf(kind, o);
    const r = governanceDocument.safeParse(
      { apiVersion: `${kind.includes('Policy') ? POLICY_GROUP : PROFILE_GROUP}/${VERSION}`, ...o, kind },
      { reportInput: true },
    );
    if (!r.success) {
      this.#drop(kind, o);
      this.log.warn(
        { kind, name: id, errors: renderIssues(toConfigIssues(r.error.issues)) },
        `${kind} ${id} is invalid and is not enforced`,
      );
      return;
    }
    const d = r.data;
    if (d.kind === 'MirrordPolicy' || d.kind === 'MirrordClusterPolicy')
      this.g.policies.upsert(compilePolicy(d.kind, d.metadata.name, o.metadata?.namespace, d.spec));
    else this.g.profiles.upsert({ id, kind: d.kind, spec: d.spec });
    this.log.info({ kind, name: id }, `${kind} ${id} loaded`);
  }

  #drop(kind: Kind, o: KubernetesObject): void {
    const id = idOf(kind, o);
    if (kind === 'MirrordPolicy' || kind === 'MirrordClusterPolicy') this.g.policies.remove(kind, id);
    else this.g.profiles.remove(id);
  }

  /** Resolves once every resource kind has been listed. */
  async start(): Promise<void> {
    const api = this.kc.makeApiClient(CustomObjectsApi);
    await Promise.all(
      RESOURCES.map(async ({ kind, group, plural }) => {
        const inf = makeInformer<KubernetesObject>(
          this.kc,
          `/apis/${group}/${VERSION}/${plural}`,
          () => api.listClusterCustomObject({ group, version: VERSION, plural }) as never,
        );
        inf.on('add', (o) => this.#apply(kind, o));
        inf.on('update', (o) => this.#apply(kind, o));
        inf.on('delete', (o) => {
          this.#drop(kind, o);
          this.log.info({ kind, name: idOf(kind, o) }, `${kind} ${idOf(kind, o)} removed`);
        });
        inf.on('error', (err) => {
          if (this.#stopped) return;
          this.log.warn({ err, kind }, `watch of ${plural} failed; restarting in 2s`);
          setTimeout(() => void (this.#stopped ? undefined : inf.start().catch(() => undefined)), 2000).unref();
        });
        this.#informers.push(inf);
        await inf.start();
      }),
    );
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#informers.map((i) => i.stop()));
  }
}
