/** A container runtime an agent can enter (`mirrord-agent targeted --container-runtime`). */
export type ContainerRuntime = 'containerd' | 'docker' | 'cri-o';

/** A container status' `containerID` (`containerd://<id>`) as the agent takes it; undefined when absent or unknown. */
export function containerRef(
  containerID: string | undefined,
): { container_id: string; container_runtime: ContainerRuntime } | undefined {
  const m = /^(containerd|docker|cri-o):\/\/(.+)$/.exec(containerID ?? '');
  return m ? { container_id: m[2]!, container_runtime: m[1] as ContainerRuntime } : undefined;
}
