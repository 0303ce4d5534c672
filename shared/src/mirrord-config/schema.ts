import * as z from 'zod';
import { checkSplitQueues } from '../queues/index.js';
import { regexError } from './regex.js';
import { didYouMean } from './suggest.js';

/**
 * The whole `mirrord.json` as the Configuration document describes it, in its raw
 * (user-written) shape: every field may be absent or null, shorthand forms are unions, and
 * every object is closed, so a typo is an error naming the path. Fields this control plane
 * does not act on (layer-side options) are typed and kept as written.
 */

/** A custom issue's path below the one zod knows (`["orders"].queue_type`), rendered as written. */
export const SUBPATH = 'mirrord-config:subpath';

/** Marks an unknown-key issue so the formatter can name each key with a suggestion. */
export const UNKNOWN_KEY = 'mirrord-config:unknown-key';

/** A closed object whose unknown keys are reported with a did-you-mean (shared by the policy and profile lint). */
export function obj<S extends z.ZodRawShape>(shape: S) {
  const known = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code !== 'unrecognized_keys') return undefined;
      return JSON.stringify({ [UNKNOWN_KEY]: iss.keys.map((k) => [k, didYouMean(k, known) ?? null]) });
    },
  });
}

const opt = <T extends z.ZodType>(t: T) => t.nullish();
const bool = z.boolean();
const str = z.string();
const u16 = z.int().min(0).max(65535);
const u32 = z.int().min(0).max(4294967295);
const u64 = z.int().min(0);
const strMap = z.record(z.string(), z.string());

/** A pattern the layer compiles with fancy-regex; must compile here too. */
export const regex = z.string().check((ctx) => {
  const why = regexError(ctx.value);
  if (why !== undefined)
    ctx.issues.push({
      code: 'custom',
      message: `invalid regex ${JSON.stringify(ctx.value)}: ${why}`,
      input: ctx.value,
    });
});
const vecOrSingle = z.union([str, z.array(str)]);
const regexVecOrSingle = z.union([regex, z.array(regex)]);
const portOrPorts = z.union([u16, z.array(u16)]);
const portPair = z.tuple([u16, u16]);
const remoteOrLocal = z.union([obj({ remote: vecOrSingle }), obj({ local: vecOrSingle })]);

// Target: the string forms, the typed objects of the reference, or {path, namespace}.
const typedTarget = (key: string) => obj({ [key]: str, container: opt(str) });
const targetObject = z.union([
  typedTarget('deployment'),
  typedTarget('pod'),
  typedTarget('rollout'),
  typedTarget('job'),
  typedTarget('cron_job'),
  typedTarget('stateful_set'),
  typedTarget('service'),
  typedTarget('replica_set'),
  obj({ labels: strMap, container: opt(str) }),
]);
export const targetSchema = z.union([
  str,
  targetObject,
  obj({ path: opt(z.union([str, targetObject])), namespace: opt(str) }),
]);

const json: z.ZodType<unknown> = z.unknown();
const securityProfile = obj({ type: str, localhost_profile: opt(str) });

const agent = obj({
  annotations: opt(strMap),
  check_out_of_pods: opt(bool),
  clean_iptables_on_start: opt(bool),
  communication_timeout: opt(u16),
  disable_mesh_sidecar_injection: opt(bool),
  disabled_capabilities: opt(z.array(str)),
  dns: opt(obj({ attempts: opt(u32), timeout: opt(u32) })),
  ephemeral: opt(bool),
  exclude_from_mesh: opt(bool),
  external_ip_fix: opt(bool),
  flush_connections: opt(bool),
  http_detection_timeout: opt(u64),
  image: opt(z.union([str, obj({ registry: opt(str), tag: opt(str) })])),
  image_pull_policy: opt(str),
  // The document's complete example writes `{ "secret-key": "secret" }`; the reference's
  // `{ name }` form is the one Kubernetes understands. Both are kept as written.
  image_pull_secrets: opt(z.array(z.union([obj({ name: str }), strMap]))),
  inject_headers: opt(bool),
  jaq_time_limit: opt(u64),
  json_log: opt(bool),
  labels: opt(strMap),
  log_level: opt(str),
  max_body_buffer_size: opt(u32),
  max_body_buffer_timeout: opt(u32),
  metrics: opt(str),
  namespace: opt(str),
  // Documented ("Which network interface to use for mirroring"); newer references dropped it.
  network_interface: opt(str),
  nftables: opt(bool),
  node_selector: opt(strMap),
  override_cache_control: opt(bool),
  priority_class: opt(str),
  privileged: opt(bool),
  resources: opt(z.record(z.string(), json)),
  security_context: opt(obj({ app_armor_profile: opt(securityProfile), seccomp_profile: opt(securityProfile) })),
  service_account: opt(str),
  startup_timeout: opt(u64),
  tolerations: opt(z.array(z.record(z.string(), json))),
  ttl: opt(u16),
});

const env = obj({
  env_file: opt(str),
  exclude: opt(vecOrSingle),
  include: opt(vecOrSingle),
  load_from_process: opt(bool),
  mapping: opt(strMap),
  override: opt(strMap),
  unset: opt(vecOrSingle),
});

export const FS_MODES = ['local', 'localwithoverrides', 'read', 'write'] as const;
const fsMode = z.enum(FS_MODES);
const fs = z.union([
  fsMode,
  obj({
    local: opt(regexVecOrSingle),
    mapping: opt(strMap),
    mode: opt(fsMode),
    not_found: opt(regexVecOrSingle),
    read_only: opt(regexVecOrSingle),
    read_write: opt(regexVecOrSingle),
    readonly_file_buffer: opt(u64),
  }),
]);

const bodyFilter = obj({ body: z.literal('json'), query: str, matches: str });
export const innerFilter = z.union([
  obj({ header: regex }),
  obj({ path: regex }),
  obj({ method: str }),
  bodyFilter,
  obj({ query: str }),
]);
export const httpFilterSchema = obj({
  all_of: opt(z.array(innerFilter)),
  any_of: opt(z.array(innerFilter)),
  body_filter: opt(bodyFilter),
  header_filter: opt(regex),
  header_filter_jq: opt(str),
  method_filter: opt(str),
  path_filter: opt(regex),
  ports: opt(portOrPorts),
});

export const INCOMING_MODES = ['mirror', 'steal', 'off'] as const;
export const CONCURRENT_STEAL = ['abort', 'continue', 'override'] as const;
export type OnConcurrentSteal = (typeof CONCURRENT_STEAL)[number];
const tlsDelivery = obj({
  protocol: z.enum(['tcp', 'tls']),
  server_cert: opt(str),
  server_name: opt(str),
  trust_roots: opt(z.array(str)),
});
const incoming = z.union([
  bool,
  z.enum(INCOMING_MODES),
  obj({
    http_filter: opt(z.union([bool, httpFilterSchema])),
    https_delivery: opt(tlsDelivery),
    ignore_localhost: opt(bool),
    ignore_ports: opt(z.array(u16)),
    listen_ports: opt(z.array(portPair)),
    mode: opt(z.enum(INCOMING_MODES)),
    on_concurrent_steal: opt(z.enum(CONCURRENT_STEAL)),
    port_mapping: opt(z.array(portPair)),
    ports: opt(z.array(u16)),
    tls_delivery: opt(tlsDelivery),
  }),
]);
const outgoing = z.union([
  bool,
  obj({
    filter: opt(remoteOrLocal),
    ignore_localhost: opt(bool),
    tcp: opt(bool),
    udp: opt(bool),
    unix_streams: opt(regexVecOrSingle),
  }),
]);
const dns = z.union([bool, obj({ enabled: opt(bool), filter: opt(remoteOrLocal) })]);
const network = z.union([
  bool,
  obj({ dns: opt(dns), incoming: opt(incoming), ipv6: opt(bool), outgoing: opt(outgoing) }),
]);
const copyTarget = z.union([
  bool,
  obj({
    enabled: opt(bool),
    exclude_containers: opt(z.array(str)),
    exclude_init_containers: opt(z.array(str)),
    scale_down: opt(bool),
  }),
]);

const feature = obj({
  copy_target: opt(copyTarget),
  // Database branching and previews are layer/operator extensions this control plane does
  // not act on: kept as written, shape-checked only at the top.
  db_branches: opt(z.array(json)),
  env: opt(z.union([bool, env])),
  fs: opt(z.union([bool, fs])),
  hostname: opt(bool),
  magic: opt(obj({ auto_mount: opt(bool), aws: opt(bool), turbo: opt(bool) })),
  network: opt(network),
  preview: opt(z.record(z.string(), json)),
  // Checked by the same function that reads a CopyTarget's split_queues, so verify-config,
  // x-mirrord-config and the operator refuse the same things (jq, other brokers, bad regexes).
  split_queues: opt(
    z.unknown().check((ctx) => {
      for (const i of checkSplitQueues(ctx.value).issues)
        ctx.issues.push({
          code: 'custom',
          message: `${i.message} (${i.hint})`,
          input: ctx.value,
          params: { [SUBPATH]: i.at },
        });
    }),
  ),
});

const proxyCommon = {
  idle_timeout: opt(u64),
  json_log: opt(bool),
  log_destination: opt(str),
  log_level: opt(str),
  start_idle_timeout: opt(u64),
};

export const mirrordConfigSchema = obj({
  accept_invalid_certificates: opt(bool),
  agent: opt(agent),
  api: opt(bool),
  baggage: opt(str),
  ci: opt(obj({ output_dir: opt(str) })),
  // Documented ("IP:PORT to connect to instead of using k8s api") though newer references dropped it.
  connect_tcp: opt(str),
  container: opt(
    obj({
      cli_extra_args: opt(z.array(str)),
      cli_image: opt(str),
      cli_image_lib_path: opt(str),
      cli_prevent_cleanup: opt(bool),
      cli_tls_path: opt(str),
      host_gateway_detection: opt(bool),
      override_host_ip: opt(str),
      platform: opt(str),
    }),
  ),
  experimental: opt(
    obj({
      applev: opt(obj({})),
      browser_extension_config: opt(bool),
      disable_reuseaddr: opt(bool),
      dlopen_cgo: opt(bool),
      enable_exec_hooks_linux: opt(bool),
      go_asmcgocall: opt(bool),
      guard_std_fds: opt(bool),
      hide_ipv6_interfaces: opt(bool),
      idle_local_http_connection_timeout: opt(u64),
      ignore_system_proxy_config: opt(bool),
      latency: opt(obj({ receive_delay: opt(u64), transmit_delay: opt(u64) })),
      non_blocking_tcp_connect: opt(bool),
      // Documented as deprecated; still accepted.
      readlink: opt(bool),
      readonly_file_buffer: opt(u64),
      sip_log_destination: opt(str),
      sip_utils: opt(bool),
      tcp_ping4_mock: opt(bool),
      trust_any_certificate: opt(bool),
      use_dev_null: opt(bool),
    }),
  ),
  external_proxy: opt(obj({ ...proxyCommon, host_ip: opt(str), tls_enable: opt(bool) })),
  feature: opt(feature),
  internal_proxy: opt(
    obj({ ...proxyCommon, ping_interval: opt(u64), process_logging_interval: opt(u64), socket_timeout: opt(u64) }),
  ),
  key: opt(str),
  kube_context: opt(str),
  kubeconfig: opt(str),
  multi_cluster: opt(bool),
  operator: opt(bool),
  profile: opt(str),
  sip_binaries: opt(vecOrSingle),
  skip_build_tools: opt(bool),
  skip_extra_build_tools: opt(vecOrSingle),
  skip_processes: opt(vecOrSingle),
  skip_sip: opt(vecOrSingle),
  startup_retry: opt(obj({ max_ms: opt(u64), max_retries: opt(u32), min_ms: opt(u64) })),
  target: opt(targetSchema),
  telemetry: opt(bool),
  traceparent: opt(str),
  use_proxy: opt(bool),
});

export type RawMirrordConfig = z.infer<typeof mirrordConfigSchema>;
export type RawHttpFilter = z.infer<typeof httpFilterSchema>;
