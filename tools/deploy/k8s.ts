/**
 * Writes the generated parts of `k8s/` from the ICS configuration, so that the manifests and
 * `config/` cannot drift apart (a test fails when the committed files differ from what this
 * produces). Run `npm run k8s:generate` after changing `config/` or this file.
 *
 * - `k8s/base/workloads.generated.yaml`: every app's Deployment(s), Service, PodDisruptionBudget,
 *   HorizontalPodAutoscaler (HTTP processes, by CPU), KEDA ScaledObject (queue workers, by the
 *   length of their BullMQ wait lists `bull:<queue>:wait`) and NetworkPolicy. All come from one
 *   `workload()` template: the same probes, limits and security context everywhere.
 * - The trust adapter is one template instantiated once per trust in `config/ics.json`, each with
 *   its own clinic-mapping ConfigMap (from `config/clinics/<ODS>.json`), its own Secret
 *   (`trust-adapter-<ods>`: PAS_INBOUND_TOKEN, EXCHANGE_TOKEN) and its own PAS settings, which
 *   each overlay supplies (`k8s/overlays/<name>/pas.json` → `pas.generated.yaml`: the PAS FHIR
 *   base URL, a NetworkPolicy letting only that trust's adapter talk with that PAS, and for a real
 *   PAS the internal load balancer through which it reaches the adapter).
 * - `k8s/base/ics-config.generated.yaml`: `config/ics.json` and `config/tfc.json` as a ConfigMap.
 *
 * Sandboxes (pas-sim, notify-sim) are generated only into `k8s/sandbox/`, which only the `local`
 * overlay includes.
 */
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { sandboxExchangeToken, sandboxPasInboundToken } from '@app/contracts';
import { repoRootDir } from '../stack/processes';
import { APP_CONFIGS, isProductionApp } from './app-configs';

type Obj = Record<string, unknown>;

export const IMAGE = 'ics-slot-exchange';
const PART_OF = 'ics-slot-exchange';
const RUN_AS = 1000; // the `node` user of the official Node.js image

interface Trust { ods: string; name: string; httpPort: number; mllpPort: number }
interface Ics { trusts: Trust[] }

export interface PasSpec {
  /**
   * Per trust ODS: the PAS FHIR base URL, and where the PAS is on the network; for a real PAS, the
   * annotations that make the cloud's load balancer for its inbound Service internal.
   */
  [ods: string]: { fhirBaseUrl: string; cidrs?: string[]; sandbox?: boolean; loadBalancerAnnotations?: Record<string, string> };
}

interface Workload {
  name: string;
  app: string;
  component: 'api' | 'worker' | 'all';
  /** Extra labels on the pods (trust). */
  labels?: Obj;
  port: number;
  extraPorts?: Array<{ name: string; containerPort: number }>;
  env: Record<string, string>;
  envFrom: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  /**
   * Pods of a Deployment that no autoscaler manages. An autoscaled one leaves `spec.replicas` unset
   * (and starts at its autoscaler's minimum): set, every `kubectl apply` would reset it.
   */
  replicas?: number;
  resources: { cpu: string; memory: string; cpuLimit: string; memoryLimit: string };
  /** HPA by CPU between these bounds. */
  hpa?: { min: number; max: number };
  /** KEDA on these queues' wait lists. */
  keda?: { queues: string[]; min: number; max: number; perReplica: number; prometheus?: boolean };
  migrate?: boolean;
  volumes?: Array<{ name: string; configMap: string; mountPath: string }>;
  /** Service: ports exposed (defaults to the HTTP port). */
  service?: boolean;
}

/**
 * Labels on every generated object's metadata (and pod templates), set here rather than by
 * kustomize's `commonLabels`, which also writes them into every selector: into NetworkPolicy peers
 * (kube-dns, CloudNativePG and Redis pods do not carry them, so no app pod could reach DNS,
 * Postgres or Redis) and Service selectors.
 */
const PART_OF_LABELS = { 'app.kubernetes.io/part-of': PART_OF };
const SANDBOX_LABELS = { ...PART_OF_LABELS, 'slotx.nhs.uk/sandbox': 'true' };

const labelsOf = (w: Pick<Workload, 'app' | 'component' | 'labels' | 'name'>): Obj => ({
  ...PART_OF_LABELS,
  'app.kubernetes.io/name': w.app,
  'app.kubernetes.io/instance': w.name,
  'app.kubernetes.io/component': w.component,
  ...(w.labels ?? {}),
});

const containerSecurity = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ['ALL'] },
};

/** The one template for every process. */
export function workload(w: Workload): Obj[] {
  const selector = { 'app.kubernetes.io/instance': w.name };
  const labels = labelsOf(w);
  const mounts = [{ name: 'tmp', mountPath: '/tmp' }, ...(w.volumes ?? []).map((v) => ({ name: v.name, mountPath: v.mountPath, readOnly: true }))];
  const volumes = [{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }, ...(w.volumes ?? []).map((v) => ({ name: v.name, configMap: { name: v.configMap } }))];
  // Each process's Postgres pool is its app's own default (booking's is sized for its reply
  // batches), stated per Deployment: one shared value would override it, and the connection
  // budget (README.md, Running in production) is read from here.
  const pool = isProductionApp(w.app) ? { DATABASE_POOL_SIZE: String(new APP_CONFIGS[w.app]().DATABASE_POOL_SIZE) } : {};
  const env = Object.entries({ SERVICE_NAME: w.name, PORT: String(w.port), PROCESS_ROLE: w.component, ...pool, ...w.env }).map(([name, value]) => ({ name, value }));
  const probe = (path: string, period: number, failures: number) => ({ httpGet: { path, port: 'http' }, periodSeconds: period, timeoutSeconds: 3, failureThreshold: failures });
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: w.name, labels },
    spec: {
      ...(w.hpa || w.keda ? {} : { replicas: w.replicas ?? 1 }),
      revisionHistoryLimit: 5,
      selector: { matchLabels: selector },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: {
          labels,
          annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(w.port), 'prometheus.io/path': '/metrics' },
        },
        spec: {
          automountServiceAccountToken: false,
          // SIGTERM: HTTP stops, BullMQ workers finish their jobs in flight (queues.ts).
          terminationGracePeriodSeconds: 45,
          securityContext: { runAsNonRoot: true, runAsUser: RUN_AS, runAsGroup: RUN_AS, fsGroup: RUN_AS, seccompProfile: { type: 'RuntimeDefault' } },
          ...(w.migrate
            ? {
                initContainers: [{
                  name: 'migrate',
                  image: IMAGE,
                  args: ['migrate'],
                  envFrom: [{ configMapRef: { name: 'slotx-common' } }, { secretRef: { name: 'slotx-data' } }],
                  resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
                  securityContext: containerSecurity,
                  volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
                }],
              }
            : {}),
          containers: [{
            name: 'app',
            image: IMAGE,
            args: [w.app],
            ports: [{ name: 'http', containerPort: w.port }, ...(w.extraPorts ?? [])],
            env,
            envFrom: w.envFrom,
            startupProbe: probe('/health/live', 2, 60),
            readinessProbe: probe('/health/ready', 10, 3),
            livenessProbe: probe('/health/live', 20, 3),
            resources: { requests: { cpu: w.resources.cpu, memory: w.resources.memory }, limits: { cpu: w.resources.cpuLimit, memory: w.resources.memoryLimit } },
            securityContext: containerSecurity,
            volumeMounts: mounts,
          }],
          volumes,
        },
      },
    },
  };
  const out: Obj[] = [deployment];
  if (w.service !== false) {
    out.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: w.name, labels },
      spec: {
        selector,
        ports: [{ name: 'http', port: w.port, targetPort: 'http' }, ...(w.extraPorts ?? []).map((p) => ({ name: p.name, port: p.containerPort, targetPort: p.name }))],
      },
    });
  }
  // A drain must always be able to evict a pod: `minAvailable: 1` on a Deployment that runs one
  // pod (the workers at their minimum, the sandboxes) would block every node drain. Where at least
  // two run, one stays up; a lone worker may go, since its jobs wait in Redis for its replacement
  // (SIGTERM lets the jobs in flight finish, and an interrupted one is retried).
  const fewest = w.hpa?.min ?? w.keda?.min ?? w.replicas ?? 1;
  out.push({
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: w.name, labels },
    spec: { ...(fewest >= 2 ? { minAvailable: 1 } : { maxUnavailable: 1 }), selector: { matchLabels: selector } },
  });
  if (w.hpa) {
    out.push({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: w.name, labels },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: w.name },
        minReplicas: w.hpa.min,
        maxReplicas: w.hpa.max,
        metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
      },
    });
  }
  if (w.keda) {
    out.push({
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: w.name, labels },
      spec: {
        scaleTargetRef: { name: w.name },
        minReplicaCount: w.keda.min,
        maxReplicaCount: w.keda.max,
        pollingInterval: 10,
        cooldownPeriod: 300,
        triggers: [
          ...w.keda.queues.map((q) => ({
            type: 'redis',
            metadata: { listName: `bull:${q}:wait`, listLength: String(w.keda!.perReplica), activationListLength: '1', databaseIndex: '0' },
            authenticationRef: { name: 'slotx-redis' },
          })),
          // Prioritised jobs (offer SMS, by cut-off) wait in a sorted set, not the wait list: the
          // depth the app exports (`bullmq_queue_jobs`, waiting + prioritised) covers both. Every
          // process that uses the queue reports the whole queue's depth, so one state's depth is
          // the max over processes (a sum would count it once per pod); the states are then added.
          ...(w.keda.prometheus
            ? w.keda.queues.map((q) => ({
                type: 'prometheus',
                metadata: {
                  serverAddress: 'http://prometheus.monitoring.svc:9090',
                  query: `sum(max by (state) (bullmq_queue_jobs{queue="${q}",state=~"waiting|prioritized"}))`,
                  threshold: String(w.keda!.perReplica),
                },
              }))
            : []),
        ],
      },
    });
  }
  return out;
}

const resourcesSmall = { cpu: '100m', memory: '192Mi', cpuLimit: '1', memoryLimit: '512Mi' };
const resourcesMatching = { cpu: '250m', memory: '256Mi', cpuLimit: '2', memoryLimit: '768Mi' };
const common = [{ configMapRef: { name: 'slotx-common' } }, { secretRef: { name: 'slotx-data' } }];
const icsVolume = { name: 'ics-config', configMap: 'slotx-ics-config', mountPath: '/etc/slotx/ics' };

/** Every process of the ICS except the trust adapters. */
export function coreWorkloads(trusts: Trust[] = []): Workload[] {
  return [
    {
      name: 'slot-exchange', app: 'slot-exchange', component: 'api', port: 3000, resources: resourcesSmall, migrate: true,
      env: {}, envFrom: [...common, { configMapRef: { name: 'slot-exchange' } }, { secretRef: { name: 'slot-exchange' } }],
      hpa: { min: 2, max: 6 }, volumes: [icsVolume],
    },
    {
      name: 'slot-exchange-worker', app: 'slot-exchange', component: 'worker', port: 3000, resources: resourcesMatching, migrate: true,
      env: {}, envFrom: [...common, { configMapRef: { name: 'slot-exchange' } }, { secretRef: { name: 'slot-exchange' } }],
      keda: { queues: ['slot-matching'], min: 1, max: 8, perReplica: 50 }, volumes: [icsVolume], service: false,
    },
    {
      name: 'booking', app: 'booking', component: 'worker', port: 3003, resources: resourcesSmall, migrate: true,
      env: {}, envFrom: common,
      keda: { queues: ['offer-replies', 'booking-events'], min: 1, max: 6, perReplica: 50 }, volumes: [icsVolume], service: false,
    },
    {
      // Behind the ingress controller (one hop): its X-Forwarded-For is the caller's address.
      name: 'notifier', app: 'notifier', component: 'api', port: 3002, resources: resourcesSmall, migrate: true,
      env: { TRUST_PROXY: '1' }, envFrom: [...common, { configMapRef: { name: 'notifier' } }, { secretRef: { name: 'notifier' } }],
      hpa: { min: 2, max: 6 }, volumes: [icsVolume],
    },
    {
      // Only this Deployment reaches GOV.UK Notify (its NetworkPolicy); it is bound by Notify's
      // rate limit, not CPU, so a few replicas are plenty.
      name: 'notifier-worker', app: 'notifier', component: 'worker', port: 3002, resources: resourcesSmall, migrate: true,
      env: {}, envFrom: [...common, { configMapRef: { name: 'notifier' } }, { secretRef: { name: 'notifier' } }],
      keda: { queues: ['sms-outbound'], min: 1, max: 4, perReplica: 200, prometheus: true }, volumes: [icsVolume], service: false,
    },
    {
      name: 'dashboard', app: 'dashboard', component: 'all', port: 3001, resources: resourcesSmall, migrate: true,
      // ADAPTER_URLS: each trust's adapter API Service, where a refused HL7 message is resubmitted
      // (ADAPTER_TOKENS, the adapters' PAS_INBOUND_TOKENs, come from the `dashboard` Secret).
      // TRUST_PROXY: behind the ingress controller (one hop), so the audit trail records the
      // operator's address, not the controller's.
      env: { TRUST_PROXY: '1', EXCHANGE_URL: 'http://slot-exchange:3000', ...(trusts.length ? { ADAPTER_URLS: trusts.map((t) => `${t.ods}=http://trust-adapter-${t.ods.toLowerCase()}:${t.httpPort}`).join(',') } : {}) },
      envFrom: [...common, { secretRef: { name: 'dashboard' } }],
      hpa: { min: 2, max: 4 }, volumes: [icsVolume],
    },
  ];
}

/** One trust's adapter: an API Deployment (MLLP + HTTP from its PAS) and a worker Deployment (forwarding, write-back). */
export function trustAdapterWorkloads(t: Trust): Workload[] {
  const ods = t.ods.toLowerCase();
  const base = {
    app: 'trust-adapter',
    labels: { 'slotx.nhs.uk/trust': ods },
    // Named per trust: the sandbox's single pas-sim Service can then reach each trust's port (k8s/sandbox).
    port: t.httpPort,
    extraPorts: [{ name: `mllp-${ods}`, containerPort: t.mllpPort }],
    env: { TRUST_ODS: t.ods, MLLP_PORT: String(t.mllpPort), CLINIC_MAP_FILE: '/etc/slotx/clinics/clinics.json', EXCHANGE_URL: 'http://slot-exchange:3000' },
    envFrom: [...common, { configMapRef: { name: `trust-adapter-${ods}-pas` } }, { secretRef: { name: `trust-adapter-${ods}` } }],
    resources: resourcesSmall,
    migrate: true,
    volumes: [icsVolume, { name: 'clinics', configMap: `trust-adapter-${ods}-clinics`, mountPath: '/etc/slotx/clinics' }],
  };
  return [
    { ...base, name: `trust-adapter-${ods}`, component: 'api', hpa: { min: 2, max: 4 } },
    {
      ...base, name: `trust-adapter-${ods}-worker`, component: 'worker', service: false, extraPorts: [],
      keda: { queues: [`trust-inbound-${t.ods}`, `trust-writeback-${t.ods}`], min: 1, max: 4, perReplica: 50 },
    },
  ];
}

// --- NetworkPolicies ---------------------------------------------------------------------------

const DNS = { to: [{ namespaceSelector: {}, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] };
const POSTGRES = { to: [{ podSelector: { matchLabels: { 'slotx.nhs.uk/role': 'postgres' } } }], ports: [{ protocol: 'TCP', port: 5432 }] };
const REDIS = { to: [{ podSelector: { matchLabels: { 'slotx.nhs.uk/role': 'redis' } } }], ports: [{ protocol: 'TCP', port: 6379 }] };
const EXCHANGE = { to: [{ podSelector: { matchLabels: { 'app.kubernetes.io/instance': 'slot-exchange' } } }], ports: [{ protocol: 'TCP', port: 3000 }] };
const SCRAPE = { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] };
const OTLP = { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }], ports: [{ protocol: 'TCP', port: 4318 }] };
const INGRESS_CONTROLLER = { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }] };

/** A policy for the pods `podSelector` selects; without `egress`, one that only adds ingress to what their own policies allow. */
function policy(name: string, podSelector: Obj, ingress: Obj[], egress?: Obj[]): Obj {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name },
    spec: { podSelector: { matchLabels: podSelector }, policyTypes: egress ? ['Ingress', 'Egress'] : ['Ingress'], ingress, ...(egress ? { egress } : {}) },
  };
}

export function networkPolicies(trusts: Trust[]): Obj[] {
  const inst = (n: string) => ({ 'app.kubernetes.io/instance': n });
  const out: Obj[] = [
    // Nothing moves unless a policy below allows it.
    { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'default-deny' }, spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] } },
    policy('slot-exchange', inst('slot-exchange'), [
      { from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'trust-adapter' } } }, { podSelector: { matchLabels: inst('dashboard') } }], ports: [{ protocol: 'TCP', port: 3000 }] },
      SCRAPE,
    ], [DNS, POSTGRES, REDIS, OTLP]),
    policy('slot-exchange-worker', inst('slot-exchange-worker'), [SCRAPE], [DNS, POSTGRES, REDIS, OTLP]),
    policy('booking', inst('booking'), [SCRAPE], [DNS, POSTGRES, REDIS, OTLP]),
    // Public: Notify's callbacks and the patients' offer page, through the ingress controller.
    policy('notifier', inst('notifier'), [{ ...INGRESS_CONTROLLER, ports: [{ protocol: 'TCP', port: 3002 }] }, SCRAPE], [DNS, POSTGRES, REDIS, OTLP]),
    // The only pods that reach GOV.UK Notify: each overlay adds that egress (`notify-egress`).
    policy('notifier-worker', inst('notifier-worker'), [SCRAPE], [DNS, POSTGRES, REDIS, OTLP]),
    // The dashboard also resubmits refused HL7 messages to each trust's adapter API (its HTTP port).
    policy('dashboard', inst('dashboard'), [{ ...INGRESS_CONTROLLER, ports: [{ protocol: 'TCP', port: 3001 }] }, SCRAPE], [
      DNS, POSTGRES, REDIS, EXCHANGE, OTLP,
      ...trusts.map((t) => ({ to: [{ podSelector: { matchLabels: inst(`trust-adapter-${t.ods.toLowerCase()}`) } }], ports: [{ protocol: 'TCP', port: t.httpPort }] })),
    ]),
  ];
  for (const t of trusts) {
    const ods = t.ods.toLowerCase();
    // An adapter reaches the exchange, Redis, and Postgres (its raw-message archive and outbox);
    // its own PAS only through the overlay's `trust-adapter-<ods>-pas` policy. Besides its PAS,
    // only Prometheus (/metrics) and the dashboard (resubmitting refused HL7) reach it, and only on
    // its HTTP port: MLLP is the PAS's alone.
    out.push(policy(`trust-adapter-${ods}`, inst(`trust-adapter-${ods}`), [
      { ...SCRAPE, ports: [{ protocol: 'TCP', port: t.httpPort }] },
      { from: [{ podSelector: { matchLabels: inst('dashboard') } }], ports: [{ protocol: 'TCP', port: t.httpPort }] },
    ], [DNS, POSTGRES, REDIS, EXCHANGE, OTLP]));
    out.push(policy(`trust-adapter-${ods}-worker`, inst(`trust-adapter-${ods}-worker`), [SCRAPE], [DNS, POSTGRES, REDIS, EXCHANGE, OTLP]));
  }
  return out;
}

/** Per overlay: each trust's PAS address, and the policy that lets only that trust's adapter talk with it. */
export function pasObjects(trusts: Trust[], pas: PasSpec): Obj[] {
  const out: Obj[] = [];
  for (const t of trusts) {
    const spec = pas[t.ods];
    if (!spec) throw new Error(`no PAS settings for ${t.ods} in the overlay's pas.json`);
    const ods = t.ods.toLowerCase();
    out.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `trust-adapter-${ods}-pas` }, data: { PAS_FHIR_BASE_URL: spec.fhirBaseUrl } });
    if (spec.sandbox) {
      // Sandbox credentials only; a real overlay creates this Secret outside git (k8s/README.md).
      out.push({
        apiVersion: 'v1', kind: 'Secret', metadata: { name: `trust-adapter-${ods}` }, type: 'Opaque',
        stringData: { PAS_INBOUND_TOKEN: sandboxPasInboundToken(t.ods), EXCHANGE_TOKEN: sandboxExchangeToken(t.ods) },
      });
    }
    const peer = spec.sandbox
      ? [{ podSelector: { matchLabels: { 'app.kubernetes.io/instance': 'pas-sim' } } }]
      : (spec.cidrs ?? []).map((cidr) => ({ ipBlock: { cidr } }));
    if (peer.length === 0) throw new Error(`${t.ods}: pas.json needs the PAS's cidrs (or sandbox: true)`);
    const pasPort = spec.sandbox ? 3200 : Number(new URL(spec.fhirBaseUrl).port || (spec.fhirBaseUrl.startsWith('https') ? 443 : 80));
    out.push({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: `trust-adapter-${ods}-pas` },
      spec: {
        podSelector: { matchLabels: { 'app.kubernetes.io/name': 'trust-adapter', 'slotx.nhs.uk/trust': ods } },
        policyTypes: ['Ingress', 'Egress'],
        // The PAS (its integration engine) sends HL7 over MLLP, and PTL and HL7 over HTTP.
        ingress: [{ from: peer, ports: [{ protocol: 'TCP', port: t.mllpPort }, { protocol: 'TCP', port: t.httpPort }] }],
        // The adapter writes back to its own PAS's FHIR endpoint, and to no other.
        egress: [{ to: peer, ports: [{ protocol: 'TCP', port: pasPort }] }],
      },
    });
    if (!spec.sandbox) out.push(pasInboundService(t, spec));
  }
  return out;
}

/**
 * How a real PAS, outside the cluster, reaches its adapter's MLLP and HTTP ports: an internal
 * load balancer open only to the PAS's ranges. `externalTrafficPolicy: Local` keeps the PAS's own
 * address as the source, which the `trust-adapter-<ods>-pas` policy admits (with `Cluster` the
 * packets would arrive from a node's address and be refused).
 */
function pasInboundService(t: Trust, spec: PasSpec[string]): Obj {
  const ods = t.ods.toLowerCase();
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `trust-adapter-${ods}-inbound`, ...(spec.loadBalancerAnnotations ? { annotations: spec.loadBalancerAnnotations } : {}) },
    spec: {
      type: 'LoadBalancer',
      externalTrafficPolicy: 'Local',
      loadBalancerSourceRanges: spec.cidrs,
      selector: { 'app.kubernetes.io/instance': `trust-adapter-${ods}` },
      ports: [
        { name: 'mllp', port: t.mllpPort, targetPort: `mllp-${ods}` },
        { name: 'http', port: t.httpPort, targetPort: 'http' },
      ],
    },
  };
}

export function trustConfigMaps(trusts: Trust[], configDir: string): Obj[] {
  return trusts.map((t) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `trust-adapter-${t.ods.toLowerCase()}-clinics`, labels: { 'slotx.nhs.uk/trust': t.ods.toLowerCase() } },
    // Mounted as a volume, so an edited mapping reaches the adapter without a restart (it reloads on change).
    data: { 'clinics.json': readFileSync(join(configDir, 'clinics', `${t.ods}.json`), 'utf8') },
  }));
}

export function icsConfigMap(configDir: string): Obj {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'slotx-ics-config' },
    data: { 'ics.json': readFileSync(join(configDir, 'ics.json'), 'utf8'), 'tfc.json': readFileSync(join(configDir, 'tfc.json'), 'utf8') },
  };
}

/** How KEDA reads the BullMQ lists: the address and password of the same Redis (Secret `slotx-redis-keda`). */
export function kedaRedisAuth(): Obj {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'TriggerAuthentication',
    metadata: { name: 'slotx-redis' },
    spec: {
      secretTargetRef: [
        { parameter: 'address', name: 'slotx-redis-keda', key: 'address' },
        { parameter: 'password', name: 'slotx-redis-keda', key: 'password' },
      ],
    },
  };
}

/** The sandboxes, for the `local` overlay only. */
export function sandboxWorkloads(trusts: Trust[]): Obj[] {
  const list = (f: (t: Trust) => number) => trusts.map((t) => `${t.ods}=${f(t)}`).join(',');
  const objs = [
    ...workload({
      name: 'pas-sim', app: 'pas-sim', component: 'all', labels: SANDBOX_LABELS, port: 3200, replicas: 1, resources: resourcesSmall,
      // One Service exposing every trust's named ports reaches each trust's adapter pods (see trust-adapters).
      env: { ADAPTER_HOST: 'trust-adapters', ADAPTER_MLLP_PORTS: list((t) => t.mllpPort), ADAPTER_HTTP_PORTS: list((t) => t.httpPort), ICS_CONFIG_DIR: '/etc/slotx/ics' },
      envFrom: [{ configMapRef: { name: 'slotx-common' } }], volumes: [icsVolume],
    }),
    ...workload({
      name: 'notify-sim', app: 'notify-sim', component: 'all', labels: SANDBOX_LABELS, port: 3300, replicas: 1, resources: resourcesSmall,
      // pas-sim runs the demo (DEMO defaults to 1), so its simulated patients answer, as under `npm start`.
      env: { NOTIFIER_BASE_URL: 'http://notifier:3002', SIM_AUTOREPLY: '1' }, envFrom: [{ configMapRef: { name: 'slotx-common' } }],
    }),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'trust-adapters' },
      spec: {
        selector: { 'app.kubernetes.io/name': 'trust-adapter', 'app.kubernetes.io/component': 'api' },
        // Named target ports: each resolves only on the pods of the trust that declares it.
        ports: trusts.flatMap((t) => [
          { name: `http-${t.ods.toLowerCase()}`, port: t.httpPort, targetPort: t.httpPort },
          { name: `mllp-${t.ods.toLowerCase()}`, port: t.mllpPort, targetPort: `mllp-${t.ods.toLowerCase()}` },
        ]),
      },
    },
    policy('pas-sim', { 'app.kubernetes.io/instance': 'pas-sim' },
      [{ from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'trust-adapter' } } }] }, SCRAPE],
      [DNS, { to: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'trust-adapter' } } }] }]),
    policy('notify-sim', { 'app.kubernetes.io/instance': 'notify-sim' },
      [{ from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/instance': 'notifier-worker' } } }] }, SCRAPE],
      [DNS, { to: [{ podSelector: { matchLabels: { 'app.kubernetes.io/instance': 'notifier' } } }], ports: [{ protocol: 'TCP', port: 3002 }] }]),
    // notify-sim posts Notify's callbacks (replies, delivery receipts) to the notifier, whose own
    // policy admits only the ingress controller. Here, in the sandbox, so never in production.
    policy('notifier-from-notify-sim', { 'app.kubernetes.io/instance': 'notifier' },
      [{ from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/instance': 'notify-sim' } } }], ports: [{ protocol: 'TCP', port: 3002 }] }]),
  ];
  return objs;
}

/** `labels` added to each object's own metadata, never to a selector. */
function labelled(objs: Obj[], labels: Obj): Obj[] {
  return objs.map((o) => {
    const metadata = o.metadata as Obj;
    return { ...o, metadata: { ...metadata, labels: { ...labels, ...((metadata.labels as Obj | undefined) ?? {}) } } };
  });
}

function doc(objs: Obj[], source: string): string {
  return `# Generated by \`npm run k8s:generate\` (tools/deploy/k8s.ts) from ${source}. Do not edit by hand.\n` + objs.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}

/** Every generated file, path relative to the repository → content. */
export function generate(root: string): Record<string, string> {
  const configDir = join(root, 'config');
  const ics = JSON.parse(readFileSync(join(configDir, 'ics.json'), 'utf8')) as Ics;
  const files: Record<string, string> = {
    'k8s/base/workloads.generated.yaml': doc([...coreWorkloads(ics.trusts), ...ics.trusts.flatMap(trustAdapterWorkloads)].flatMap(workload), 'config/ics.json'),
    'k8s/base/network-policies.generated.yaml': doc(labelled(networkPolicies(ics.trusts), PART_OF_LABELS), 'config/ics.json'),
    'k8s/base/config.generated.yaml': doc(labelled([icsConfigMap(configDir), ...trustConfigMaps(ics.trusts, configDir), kedaRedisAuth()], PART_OF_LABELS), 'config/'),
    'k8s/sandbox/sandbox.generated.yaml': doc(labelled(sandboxWorkloads(ics.trusts), SANDBOX_LABELS), 'config/ics.json'),
  };
  const overlays = join(root, 'k8s', 'overlays');
  for (const name of existsSync(overlays) ? readdirSync(overlays) : []) {
    const pasFile = join(overlays, name, 'pas.json');
    if (!existsSync(pasFile)) continue;
    files[`k8s/overlays/${name}/pas.generated.yaml`] = doc(labelled(pasObjects(ics.trusts, JSON.parse(readFileSync(pasFile, 'utf8')) as PasSpec), PART_OF_LABELS), `k8s/overlays/${name}/pas.json`);
  }
  return files;
}

if (require.main === module) {
  const root = repoRootDir();
  for (const [path, content] of Object.entries(generate(root))) {
    writeFileSync(join(root, path), content);
    console.log(`wrote ${path}`);
  }
}
