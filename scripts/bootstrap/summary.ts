/** `npm start`'s few lines for a person (stderr), beside the JSON logs on stdout. */
/** What a person needs once the system is up: where it is, what to export, what to try. */
export function summary(o: {
  services: readonly string[];
  natsUrl: string;
  gatewayUrl: string;
  demo?: { kubeconfig: string; queues: boolean };
}): string {
  const { services, natsUrl, gatewayUrl, demo } = o;
  const lines = [
    '',
    `mirrord-teams is up: ${services.join(', ')} on NATS ${natsUrl}`,
    `  gateway   ${gatewayUrl}`,
    ...(demo
      ? [
          `  export    KUBECONFIG=${demo.kubeconfig}   (the demo cluster; users in test/kube/seed/tokens.csv)`,
          '  try       npx kubectl-mirrord operator status      (through the cluster, as kubectl does)',
          '  demo      kubectl get pods -A                      (the node simulator runs them)',
          ...(demo.queues
            ? ['  queues    npm run demo:send / demo:receive  (queue splitting, README "Queue splitting")']
            : []),
        ]
      : [
          `  export    MIRRORD_GATEWAY=${gatewayUrl} MIRRORD_TOKEN=aviram-token   (tokens: deploy/sample/tokens.csv)`,
          '  try       npx kubectl-mirrord operator status',
          '  demo      npm run start:demo   (a local cluster with agents, policies and queue splitting)',
        ]),
    '  logs      JSON lines on stdout; Ctrl-C stops everything',
    '',
  ];
  return `${lines.join('\n')}\n`;
}
