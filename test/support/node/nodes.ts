/**
 * The simulator's Nodes as a kubelet registers them: created, their status Ready with capacity
 * and an address, and a Lease in kube-node-lease renewed every 10 s (the node lifecycle
 * controller's heartbeat: without it the nodes turn NotReady and their pods are evicted).
 */
import { PatchStrategy, setHeaderOptions, type CoordinationV1Api, type CoreV1Api } from '@kubernetes/client-node';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const code = (e: unknown): number | undefined => (e as { code?: number }).code;
const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
/** A Lease's MicroTime: the API server wants six fractional digits. */
const microTime = () => new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export async function registerNodes(
  core: CoreV1Api,
  leases: CoordinationV1Api,
  nodes: readonly string[],
  log: (line: string) => void,
): Promise<{ stop(): void }> {
  for (const name of nodes) {
    try {
      await core.createNode({ body: { metadata: { name, labels: { 'kubernetes.io/hostname': name } } } });
    } catch (e) {
      if (code(e) !== 409) throw e;
    }
    await core.patchNodeStatus(
      {
        name,
        body: {
          status: {
            conditions: [
              {
                type: 'Ready',
                status: 'True',
                reason: 'KubeletReady',
                lastHeartbeatTime: now(),
                lastTransitionTime: now(),
              },
            ],
            addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
            allocatable: { cpu: '64', memory: '256Gi', pods: '1000' },
            capacity: { cpu: '64', memory: '256Gi', pods: '1000' },
          },
        },
      },
      mergePatch,
    );
  }
  const renew = async () => {
    for (const name of nodes) {
      const body = {
        metadata: { name, namespace: 'kube-node-lease' },
        spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: microTime() as never },
      };
      try {
        await leases.patchNamespacedLease(
          { name, namespace: 'kube-node-lease', body: { spec: body.spec } },
          mergePatch,
        );
      } catch (e) {
        if (code(e) === 404)
          await leases.createNamespacedLease({ namespace: 'kube-node-lease', body }).catch(() => undefined);
        else log(`lease ${name}: ${(e as Error).message}`);
      }
    }
  };
  await renew();
  const heartbeat = setInterval(() => void renew(), 10_000);
  heartbeat.unref();
  return { stop: () => clearInterval(heartbeat) };
}
