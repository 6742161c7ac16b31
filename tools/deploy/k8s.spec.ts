/**
 * The Kubernetes manifests, rendered the way an operator would (`kubectl kustomize`, Debian's
 * kubectl 1.20 or any later one: the overlays use only what kustomize v2.0.3 understands), every
 * object validated against the Kubernetes schemas (kubernetes-models), and the deployment rules
 * checked: probes, requests and limits, non-root and read-only root filesystems, PDBs, HPAs for
 * HTTP processes, KEDA on BullMQ wait lists for workers, NetworkPolicies around every pod (an
 * adapter reaches only the exchange, Redis, Postgres and its own PAS; only the notifier's workers
 * reach Notify), one adapter per trust with its own config, and no sandbox or secret in production.
 * What the policies let through is judged on the rendered selectors against the labels real pods
 * carry (network-model.ts); PDBs against the fewest pods; the README's connection budget and
 * sizing against the render.
 */
import { QueueName } from '@app/contracts';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { generate } from './k8s';
import { APPS, SANDBOX_APPS, mainFor } from './entrypoint';
import { Endpoint, Policy, canConnect, selects } from './network-model';
import { APP_CONFIGS, isProductionApp } from './app-configs';
import { DataConfig, loadConfig, readsVariable } from '@app/platform';
import { SMS_TEMPLATES, SmsKind } from '@app/contracts';
import { NotifierConfig, TEMPLATE_SETTINGS } from '../../apps/notifier/src/config';

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; spec?: any; data?: any; stringData?: any };

const ROOT = join(__dirname, '..', '..');
const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const OVERLAYS = ['local', 'nwl-production'] as const;
const ics = JSON.parse(readFileSync(join(ROOT, 'config', 'ics.json'), 'utf8')) as { trusts: Array<{ ods: string; httpPort: number; mllpPort: number }> };
const trusts = ics.trusts.map((t) => t.ods);

const fail = (why: string): never => {
  throw new Error(why);
};

function render(overlay: string): K8sObject[] {
  const out = execFileSync(KUBECTL, ['kustomize', join(ROOT, 'k8s', 'overlays', overlay)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return parseAllDocuments(out).map((d) => d.toJS() as K8sObject).filter(Boolean);
}

const rendered: Record<string, K8sObject[]> = {};
beforeAll(() => {
  for (const o of OVERLAYS) rendered[o] = render(o);
});

/** k8s/README.md's Secrets to create: each name and the settings it holds (backticked, outside parentheses). */
function readmeSecrets(): Array<[string, string[]]> {
  const readme = readFileSync(join(ROOT, 'k8s', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Secrets to create')).split(/\n## /)[0];
  return [...section.matchAll(/^\| `([^`]+)` \| (.+) \|$/gm)].map((m) => [m[1], [...m[2].replace(/\([^)]*\)/g, '').matchAll(/`([A-Z][A-Z0-9_]+)(?:=[^`]*)?`/g)].map((k) => k[1])]);
}

/** The phrases README.md (whitespace folded) does not contain. */
const notInReadme = (phrases: string[]) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8').replace(/\s+/g, ' ');
  return phrases.filter((p) => !readme.includes(p));
};

const byKind = (objs: K8sObject[], kind: string) => objs.filter((o) => o.kind === kind);
const podTemplates = (objs: K8sObject[]) =>
  objs.filter((o) => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind)).map((o) => ({ owner: o, pod: o.spec.template as { metadata: { labels: Record<string, string> }; spec: any } }));
const matches = (selector: Record<string, string> | undefined, labels: Record<string, string>) =>
  Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);

/** Schemas for the two CRDs we ship (KEDA, CloudNativePG): the fields the operators require. */
function validateCustom(o: K8sObject): void {
  const need = (cond: unknown, what: string) => {
    if (!cond) throw new Error(`${o.kind}/${o.metadata.name}: ${what}`);
  };
  switch (`${o.apiVersion}/${o.kind}`) {
    case 'keda.sh/v1alpha1/ScaledObject':
      need(typeof o.spec?.scaleTargetRef?.name === 'string', 'spec.scaleTargetRef.name');
      need(Array.isArray(o.spec?.triggers) && o.spec.triggers.length > 0, 'spec.triggers');
      for (const t of o.spec.triggers) need(['redis', 'prometheus'].includes(t.type) && t.metadata, `trigger ${JSON.stringify(t)}`);
      return;
    case 'keda.sh/v1alpha1/TriggerAuthentication':
      need(Array.isArray(o.spec?.secretTargetRef), 'spec.secretTargetRef');
      return;
    case 'postgresql.cnpg.io/v1/Cluster':
      need(Number.isInteger(o.spec?.instances) && o.spec.instances >= 1, 'spec.instances');
      need(typeof o.spec?.storage?.size === 'string', 'spec.storage.size');
      return;
    default:
      throw new Error(`no schema for ${o.apiVersion} ${o.kind}`);
  }
}

function validate(o: K8sObject): void {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  if (group.endsWith('keda.sh') || group.endsWith('cnpg.io')) return validateCustom(o);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const models = require(`kubernetes-models/${group ? `${group}/` : ''}${version}`) as Record<string, new (x: unknown) => { validate(): void }>;
  const Model = models[o.kind];
  if (!Model) throw new Error(`kubernetes-models has no ${o.apiVersion} ${o.kind}`);
  new Model(o).validate();
}

describe.each(OVERLAYS)('overlay %s', (overlay) => {
  const objs = () => rendered[overlay];

  it('renders, and every object is valid against the Kubernetes schemas', () => {
    expect(objs().length).toBeGreaterThan(50);
    const problems: string[] = [];
    for (const o of objs()) {
      try {
        validate(o);
      } catch (e) {
        problems.push(`${o.kind}/${o.metadata?.name}: ${(e as Error).message.slice(0, 300)}`);
      }
    }
    expect(problems).toEqual([]);
    const names = objs().map((o) => `${o.kind}/${o.metadata.name}`);
    expect(new Set(names).size).toBe(names.length);
  });

  it('gives every container probes, requests and limits, a non-root user and a read-only root filesystem', () => {
    const problems: string[] = [];
    for (const { owner, pod } of podTemplates(objs())) {
      const where = `${owner.kind}/${owner.metadata.name}`;
      if (pod.spec.securityContext?.runAsNonRoot !== true) problems.push(`${where}: pod runAsNonRoot`);
      for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
        const init = (pod.spec.initContainers ?? []).includes(c);
        if (c.securityContext?.readOnlyRootFilesystem !== true) problems.push(`${where}/${c.name}: readOnlyRootFilesystem`);
        if (c.securityContext?.allowPrivilegeEscalation !== false) problems.push(`${where}/${c.name}: allowPrivilegeEscalation`);
        if (!c.securityContext?.capabilities?.drop?.includes('ALL')) problems.push(`${where}/${c.name}: capabilities`);
        for (const r of ['cpu', 'memory']) {
          if (!c.resources?.requests?.[r] || !c.resources?.limits?.[r]) problems.push(`${where}/${c.name}: ${r} request and limit`);
        }
        if (!init && (!c.readinessProbe || !c.livenessProbe)) problems.push(`${where}/${c.name}: readiness and liveness probes`);
        if (c.image.includes('ics-slot-exchange') && !init) {
          // Our apps: the probes are the health endpoints, the command names a known app.
          if (c.readinessProbe?.httpGet?.path !== '/health/ready') problems.push(`${where}: readiness on /health/ready`);
          if (c.livenessProbe?.httpGet?.path !== '/health/live') problems.push(`${where}: liveness on /health/live`);
          expect(() => mainFor(c.args[0])).not.toThrow();
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('protects every Deployment with a PodDisruptionBudget and scales it: HTTP by CPU (HPA), workers by queue depth (KEDA)', () => {
    const pdbs = byKind(objs(), 'PodDisruptionBudget');
    const hpas = byKind(objs(), 'HorizontalPodAutoscaler');
    const scaled = byKind(objs(), 'ScaledObject');
    const queueNames = new Set<string>([QueueName.slotMatching, QueueName.smsOutbound, QueueName.offerReplies, QueueName.bookingEvents, ...trusts.flatMap((t) => [QueueName.trustInbound(t), QueueName.trustWriteback(t)])]);
    const consumed = new Set<string>();
    for (const d of [...byKind(objs(), 'Deployment'), ...byKind(objs(), 'StatefulSet')]) {
      const labels = d.spec.template.metadata.labels;
      expect({ d: d.metadata.name, pdb: pdbs.some((p) => matches(p.spec.selector.matchLabels, labels)) }).toEqual({ d: d.metadata.name, pdb: true });
      if (d.kind !== 'Deployment' || labels['slotx.nhs.uk/sandbox'] === 'true') continue;
      const role = d.spec.template.spec.containers[0].env.find((e: { name: string }) => e.name === 'PROCESS_ROLE')?.value;
      if (role === 'worker') {
        const so = scaled.find((s) => s.spec.scaleTargetRef.name === d.metadata.name);
        expect(so).toBeDefined();
        for (const t of so!.spec.triggers.filter((x: { type: string }) => x.type === 'redis')) {
          const m = /^bull:(.+):wait$/.exec(t.metadata.listName);
          expect(m && queueNames.has(m[1])).toBe(true);
          consumed.add(m![1]);
        }
      } else {
        expect({ d: d.metadata.name, hpa: hpas.some((h) => h.spec.scaleTargetRef.name === d.metadata.name) }).toEqual({ d: d.metadata.name, hpa: true });
      }
    }
    // Every queue of the wire contract has workers that KEDA scales.
    expect([...consumed].sort()).toEqual([...queueNames].sort());
    // Every process using a queue exports the whole queue's depth (libs/platform queue-metrics.ts):
    // a depth is the max over the processes reporting it, never their sum.
    const queries = scaled.flatMap((s) => s.spec.triggers).filter((t: { type: string }) => t.type === 'prometheus').map((t: any) => t.metadata.query as string);
    expect(queries.length).toBeGreaterThan(0);
    for (const q of queries) expect(q).toMatch(/^sum\(max by \(state\) \(bullmq_queue_jobs\{[^}]*\}\)\)$/);
  });

  it('lets every node drain: each Deployment\'s PodDisruptionBudget allows an eviction at its fewest pods, and an autoscaled Deployment leaves its replicas to the autoscaler', () => {
    const pdbs = byKind(objs(), 'PodDisruptionBudget');
    const autoscaledMin = (d: K8sObject): number | undefined =>
      byKind(objs(), 'HorizontalPodAutoscaler').find((h) => h.spec.scaleTargetRef.name === d.metadata.name)?.spec.minReplicas ??
      byKind(objs(), 'ScaledObject').find((s) => s.spec.scaleTargetRef.name === d.metadata.name)?.spec.minReplicaCount;
    // A PDB's number, or its percentage of `pods` rounded up, as the eviction API counts it.
    const count = (v: number | string, pods: number) => (typeof v === 'number' ? v : Math.ceil((parseInt(v, 10) * pods) / 100));
    const problems: string[] = [];
    for (const d of byKind(objs(), 'Deployment')) {
      const min = autoscaledMin(d);
      // `kubectl apply` would reset an autoscaled Deployment to the manifest's count on every release.
      if (min !== undefined && d.spec.replicas !== undefined) problems.push(`${d.metadata.name}: replicas set beside its autoscaler`);
      const fewest = min ?? d.spec.replicas ?? 1;
      for (const p of pdbs.filter((x) => matches(x.spec.selector.matchLabels, d.spec.template.metadata.labels))) {
        const evictable = p.spec.maxUnavailable !== undefined ? Math.min(fewest, count(p.spec.maxUnavailable, fewest)) : fewest - count(p.spec.minAvailable, fewest);
        if (evictable < 1) problems.push(`${d.metadata.name}: PDB ${p.metadata.name} allows no eviction at ${fewest} pod(s)`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('gives KEDA, which runs in its own namespace, the fully qualified address of the Redis', () => {
    const redis = byKind(objs(), 'Service').find((s) => s.metadata.name === 'redis')!;
    const address = `redis.${redis.metadata.namespace}.svc.cluster.local:${redis.spec.ports[0].port}`;
    const secret = byKind(objs(), 'Secret').find((s) => s.metadata.name === 'slotx-redis-keda');
    if (secret) expect(secret.stringData).toEqual({ address, password: '' }); // the example Redis has no password
    else expect(readFileSync(join(ROOT, 'k8s', 'README.md'), 'utf8')).toContain(`\`${address}\``);
  });

  it('runs one adapter per trust from the one template, each with its own clinic map, PAS endpoint and Secret', () => {
    const configMaps = new Map(byKind(objs(), 'ConfigMap').map((c) => [c.metadata.name, c]));
    for (const ods of trusts) {
      const o = ods.toLowerCase();
      const api = byKind(objs(), 'Deployment').find((d) => d.metadata.name === `trust-adapter-${o}`)!;
      expect(api).toBeDefined();
      const c = api.spec.template.spec.containers[0];
      expect(c.env).toEqual(expect.arrayContaining([{ name: 'TRUST_ODS', value: ods }]));
      expect(c.envFrom).toEqual(expect.arrayContaining([{ secretRef: { name: `trust-adapter-${o}` } }, { configMapRef: { name: `trust-adapter-${o}-pas` } }]));
      const clinics = JSON.parse(configMaps.get(`trust-adapter-${o}-clinics`)!.data['clinics.json']);
      expect(clinics.trust).toBe(ods);
      expect(configMaps.get(`trust-adapter-${o}-pas`)!.data.PAS_FHIR_BASE_URL).toMatch(/^https?:\/\//);
    }
    const pasUrls = trusts.map((t) => configMaps.get(`trust-adapter-${t.toLowerCase()}-pas`)!.data.PAS_FHIR_BASE_URL);
    expect(new Set(pasUrls).size).toBe(trusts.length);
  });

  it('puts in each Secret only settings its apps read, and gives the dashboard the adapters\' tokens', () => {
    // Rendered in the sandbox; in production, the ones k8s/README.md tells the operator to create.
    const secrets: Array<[string, string[]]> = overlay === 'local'
      ? byKind(objs(), 'Secret').map((s) => [s.metadata.name, Object.keys(s.stringData ?? s.data ?? {})])
      : readmeSecrets().flatMap(([name, keys]) => (name.includes('<ods>') ? trusts.map((t): [string, string[]] => [name.replace('<ods>', t.toLowerCase()), keys]) : [[name, keys]]));
    const readers = (secret: string) => podTemplates(objs())
      .flatMap(({ pod }) => [...(pod.spec.initContainers ?? []), ...pod.spec.containers])
      .filter((c) => c.envFrom?.some((r: any) => r.secretRef?.name === secret))
      .map((c) => c.args[0] as string);
    const problems: string[] = [];
    for (const [name, keys] of secrets) {
      for (const app of new Set(readers(name))) {
        const config = app === 'migrate' ? DataConfig : isProductionApp(app) ? APP_CONFIGS[app] : undefined;
        for (const key of config ? keys : []) if (!readsVariable(config!, key)) problems.push(`${name}: ${app} does not read ${key}`);
      }
    }
    expect(problems).toEqual([]);
    // The dashboard resubmits refused HL7 to the adapters (ADAPTER_URLS), each with its token.
    expect(secrets.find(([name]) => name === 'dashboard')?.[1]).toContain('ADAPTER_TOKENS');
  });

  it('refers only to ConfigMaps that exist, and to Secrets that exist or that the README lists', () => {
    const readme = readFileSync(join(ROOT, 'k8s', 'README.md'), 'utf8');
    const configMaps = new Set(byKind(objs(), 'ConfigMap').map((c) => c.metadata.name));
    const secrets = new Set(byKind(objs(), 'Secret').map((c) => c.metadata.name));
    const problems: string[] = [];
    for (const { owner, pod } of podTemplates(objs())) {
      for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
        for (const ref of c.envFrom ?? []) {
          if (ref.configMapRef && !configMaps.has(ref.configMapRef.name)) problems.push(`${owner.metadata.name}: ConfigMap ${ref.configMapRef.name}`);
          const s = ref.secretRef?.name;
          if (s && !secrets.has(s) && !(overlay === 'nwl-production' && readme.includes(`\`${s.replace(/-(rqm|ras|r1k|ryj)$/, '-<ods>')}\``))) problems.push(`${owner.metadata.name}: Secret ${s}`);
        }
      }
      for (const v of pod.spec.volumes ?? []) if (v.configMap && !configMaps.has(v.configMap.name)) problems.push(`${owner.metadata.name}: volume ConfigMap ${v.configMap.name}`);
    }
    expect(problems).toEqual([]);
  });

  it('puts every pod behind NetworkPolicies: default deny, adapters reach only the exchange, Redis, Postgres and their own PAS, only notifier workers reach Notify', () => {
    const policies = byKind(objs(), 'NetworkPolicy');
    expect(policies.some((p) => p.metadata.name === 'default-deny' && Object.keys(p.spec.podSelector).length === 0)).toBe(true);
    for (const { owner, pod } of podTemplates(objs())) {
      const own = policies.filter((p) => p.metadata.name !== 'default-deny' && matches(p.spec.podSelector.matchLabels, pod.metadata.labels));
      expect({ pod: owner.metadata.name, policies: own.length > 0 }).toEqual({ pod: owner.metadata.name, policies: true });
    }
    const allowedPeer = (peer: any, ods: string): boolean => {
      const l = peer.podSelector?.matchLabels ?? {};
      if (l['k8s-app'] === 'kube-dns') return true;
      if (l['slotx.nhs.uk/role'] === 'postgres' || l['slotx.nhs.uk/role'] === 'redis') return true;
      if (l['app.kubernetes.io/instance'] === 'slot-exchange') return true;
      if (peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'monitoring') return true; // OTLP collector
      // Its own trust's PAS, as that trust's PAS policy names it.
      return pasPolicies.get(ods)!.spec.egress.some((r: any) => r.to.some((x: any) => JSON.stringify(x) === JSON.stringify(peer)));
    };
    const pasPolicies = new Map(trusts.map((t) => [t, policies.find((p) => p.metadata.name === `trust-adapter-${t.toLowerCase()}-pas`)!]));
    for (const ods of trusts) {
      const o = ods.toLowerCase();
      expect(pasPolicies.get(ods)!.spec.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'trust-adapter', 'slotx.nhs.uk/trust': o });
      for (const name of [`trust-adapter-${o}`, `trust-adapter-${o}-worker`]) {
        const labels = byKind(objs(), 'Deployment').find((d) => d.metadata.name === name)!.spec.template.metadata.labels;
        const egress = policies.filter((p) => matches(p.spec.podSelector.matchLabels, labels)).flatMap((p) => p.spec.egress ?? []);
        const peers = egress.flatMap((r: any) => r.to ?? [{ anywhere: true }]);
        expect({ name, bad: peers.filter((peer: any) => peer.anywhere || !allowedPeer(peer, ods)) }).toEqual({ name, bad: [] });
        if (overlay === 'nwl-production') {
          // Another trust's PAS is never reachable.
          const others = trusts.filter((t) => t !== ods).map((t) => pasPolicies.get(t)!);
          for (const p of others) expect(matches(p.spec.podSelector.matchLabels, labels)).toBe(false);
        }
      }
    }
    // Egress to Notify (the internet, or notify-sim in the sandbox): notifier-worker only.
    const toNotify = (r: any) => !r.to || r.to.some((x: any) => x.ipBlock?.cidr === '0.0.0.0/0' || x.podSelector?.matchLabels?.['app.kubernetes.io/instance'] === 'notify-sim');
    const notifyEgress = policies.filter((p) => (p.spec.egress ?? []).some(toNotify));
    const reach = podTemplates(objs()).filter(({ pod }) => notifyEgress.some((p) => matches(p.spec.podSelector.matchLabels, pod.metadata.labels)));
    expect(reach.map(({ owner }) => owner.metadata.name)).toEqual(['notifier-worker']);
  });

  it('lets every pod make the connections it needs and no more, judging the rendered selectors against real labels', () => {
    const objs_ = objs();
    const policies = byKind(objs_, 'NetworkPolicy') as unknown as Policy[];
    const ns = byKind(objs_, 'Deployment')[0].metadata.namespace!;
    const pods = new Map<string, Endpoint>(podTemplates(objs_).map(({ owner, pod }) => [owner.metadata.name, {
      name: owner.metadata.name, namespace: owner.metadata.namespace ?? ns, labels: pod.metadata.labels,
      ports: pod.spec.containers.flatMap((c: any) => c.ports ?? []),
    }]));
    const pod = (name: string) => pods.get(name) ?? fail(`no pod ${name}`);
    // What the policies name outside this overlay, with the labels those pods really carry.
    const kubeDns: Endpoint = { name: 'kube-dns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } };
    const monitoring: Endpoint = { name: 'prometheus', namespace: 'monitoring', labels: { 'app.kubernetes.io/name': 'prometheus' } };
    const ingressController: Endpoint = { name: 'ingress-nginx', namespace: 'ingress-nginx', labels: { 'app.kubernetes.io/name': 'ingress-nginx' } };
    const keda: Endpoint = { name: 'keda-operator', namespace: 'keda', labels: { app: 'keda-operator' } };
    // CloudNativePG's instance pods: the Cluster's inheritedMetadata labels and the operator's own.
    for (const c of byKind(objs_, 'Cluster')) {
      pods.set(`${c.metadata.name}-1`, {
        name: `${c.metadata.name}-1`, namespace: c.metadata.namespace ?? ns,
        labels: { ...(c.spec.inheritedMetadata?.labels ?? {}), 'cnpg.io/cluster': c.metadata.name, 'cnpg.io/instanceRole': 'primary', role: 'primary' },
        ports: [{ name: 'postgresql', containerPort: 5432 }],
      });
    }
    const postgres = [...pods.values()].find((p) => p.name === 'postgres' || p.labels?.['cnpg.io/cluster']) ?? fail('no Postgres');
    const pas = JSON.parse(readFileSync(join(ROOT, 'k8s', 'overlays', overlay, 'pas.json'), 'utf8')) as Record<string, { fhirBaseUrl: string; cidrs?: string[]; sandbox?: boolean }>;
    const pasOf = (ods: string): { at: Endpoint; port: number } => {
      const spec = pas[ods];
      const url = new URL(spec.fhirBaseUrl);
      const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
      return spec.sandbox ? { at: pod('pas-sim'), port } : { at: { name: `PAS ${ods}`, ip: spec.cidrs![0].split('/')[0].replace(/\d+$/, (d) => String(Number(d) + 10)) }, port };
    };
    const notify = overlay === 'local' ? { at: pod('notify-sim'), port: 3300 } : { at: { name: 'GOV.UK Notify', ip: '203.0.113.10' } as Endpoint, port: 443 };
    const httpPort = (p: Endpoint) => p.ports!.find((x) => x.name === 'http')!.containerPort;

    const needed: Array<[Endpoint, Endpoint, number, string?]> = [];
    const refused: Array<[Endpoint, Endpoint, number]> = [];
    const ours = podTemplates(objs_).filter(({ pod: t }) => t.spec.containers[0].image.includes('ics-slot-exchange'));
    for (const { owner, pod: t } of ours) {
      const p = pod(owner.metadata.name);
      needed.push([p, kubeDns, 53, 'UDP'], [p, kubeDns, 53, 'TCP'], [monitoring, p, httpPort(p)]);
      if (SANDBOX_APPS.includes(t.spec.containers[0].args[0])) continue;
      needed.push([p, postgres, 5432], [p, pod('redis'), 6379], [p, monitoring, 4318]);
      if (p.name !== 'notifier-worker') refused.push([p, notify.at, notify.port]);
    }
    needed.push([keda, pod('redis'), 6379], [ingressController, pod('notifier'), 3002], [ingressController, pod('dashboard'), 3001]);
    needed.push([pod('dashboard'), pod('slot-exchange'), 3000], [pod('notifier-worker'), notify.at, notify.port]);
    for (const t of ics.trusts) {
      const o = t.ods.toLowerCase();
      const own = pasOf(t.ods);
      for (const name of [`trust-adapter-${o}`, `trust-adapter-${o}-worker`]) needed.push([pod(name), pod('slot-exchange'), 3000], [pod(name), own.at, own.port]);
      needed.push([own.at, pod(`trust-adapter-${o}`), t.mllpPort], [own.at, pod(`trust-adapter-${o}`), t.httpPort], [pod('dashboard'), pod(`trust-adapter-${o}`), t.httpPort]);
      // MLLP is its PAS's alone (k8s/README.md, Network); the HTTP port is also the dashboard's and Prometheus's.
      for (const other of [monitoring, pod('dashboard'), ingressController, pod('slot-exchange')]) refused.push([other, pod(`trust-adapter-${o}`), t.mllpPort]);
      refused.push([ingressController, pod(`trust-adapter-${o}`), t.httpPort], [pod('slot-exchange'), pod(`trust-adapter-${o}`), t.httpPort]);
      for (const other of ics.trusts.filter((x) => x !== t && !pas[x.ods].sandbox)) {
        // Another trust's PAS, either way.
        refused.push([pod(`trust-adapter-${o}`), pasOf(other.ods).at, pasOf(other.ods).port], [pasOf(other.ods).at, pod(`trust-adapter-${o}`), t.mllpPort]);
      }
    }
    if (overlay === 'local') {
      // The sandboxes' own flows (pas-sim ↔ adapters are above, as each trust's PAS): notify-sim
      // posts Notify's callbacks to the notifier.
      needed.push([pod('notify-sim'), pod('notifier'), 3002]);
    }
    const show = ([a, b, port, proto]: [Endpoint, Endpoint, number, string?]) => `${a.name} → ${b.name}:${port}${proto === 'UDP' ? '/udp' : ''}`;
    expect(needed.filter(([a, b, port, proto]) => !canConnect(policies, a, b, port, proto)).map(show)).toEqual([]);
    expect(refused.filter(([a, b, port]) => canConnect(policies, a, b, port)).map(show)).toEqual([]);
  });

  it('gives every Service a selector that matches rendered pods', () => {
    const pods = podTemplates(objs());
    const empty = byKind(objs(), 'Service').filter((s) => s.spec.selector && !pods.some(({ owner, pod }) => owner.metadata.namespace === s.metadata.namespace && selects({ matchLabels: s.spec.selector }, pod.metadata.labels)));
    expect(empty.map((s) => s.metadata.name)).toEqual([]);
  });

  it('lets the dashboard resubmit refused HL7 to each adapter API over HTTP (both ends allow it), and tells it where', () => {
    const policies = byKind(objs(), 'NetworkPolicy');
    const deployment = (name: string) => byKind(objs(), 'Deployment').find((d) => d.metadata.name === name)!;
    const dashboard = deployment('dashboard');
    const env = Object.fromEntries(dashboard.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value]));
    for (const ods of trusts) {
      const adapter = deployment(`trust-adapter-${ods.toLowerCase()}`);
      const port = adapter.spec.template.spec.containers[0].ports.find((p: any) => p.name === 'http').containerPort;
      expect(env.ADAPTER_URLS).toContain(`${ods}=http://trust-adapter-${ods.toLowerCase()}:${port}`);
      const out = policies.filter((p) => matches(p.spec.podSelector.matchLabels, dashboard.spec.template.metadata.labels)).flatMap((p) => p.spec.egress ?? []);
      expect(out.some((r: any) => r.ports?.some((x: any) => x.port === port) && r.to.some((peer: any) => matches(peer.podSelector?.matchLabels ?? {}, adapter.spec.template.metadata.labels)))).toBe(true);
      const into = policies.filter((p) => matches(p.spec.podSelector.matchLabels, adapter.spec.template.metadata.labels)).flatMap((p) => p.spec.ingress ?? []);
      expect(into.some((r: any) => r.ports?.some((x: any) => x.port === port) && r.from?.some((peer: any) => matches(peer.podSelector?.matchLabels ?? {}, dashboard.spec.template.metadata.labels)))).toBe(true);
    }
  });
});

describe('production overlay', () => {
  const prod = () => rendered['nwl-production'];

  it('never deploys a sandbox, a sandbox credential or a Secret', () => {
    const text = JSON.stringify(prod());
    for (const app of SANDBOX_APPS) expect(text).not.toContain(app);
    expect(text).not.toContain('slotx.nhs.uk/sandbox');
    expect(text).not.toMatch(/dev-[A-Z0-9]{3}-token|dev-exchange-|dev-notify-callback-token|sandbox-[0-9a-f]{8}/);
    expect(byKind(prod(), 'Secret')).toEqual([]);
    expect(byKind(prod(), 'ConfigMap').find((c) => c.metadata.name === 'slotx-common')!.data.NODE_ENV).toBe('production');
  });

  it('lets each trust\'s PAS reach its own adapter\'s MLLP and HTTP ports through an internal load balancer that keeps the PAS\'s address', () => {
    const pas = JSON.parse(readFileSync(join(ROOT, 'k8s', 'overlays', 'nwl-production', 'pas.json'), 'utf8')) as Record<string, { cidrs: string[] }>;
    const lbs = byKind(prod(), 'Service').filter((s) => s.spec.type === 'LoadBalancer');
    for (const t of ics.trusts) {
      const o = t.ods.toLowerCase();
      const api = byKind(prod(), 'Deployment').find((d) => d.metadata.name === `trust-adapter-${o}`)!.spec.template;
      const lb = lbs.filter((s) => selects({ matchLabels: s.spec.selector }, api.metadata.labels));
      expect({ ods: t.ods, lbs: lb.length }).toEqual({ ods: t.ods, lbs: 1 });
      // Only this trust's adapter pods behind it.
      for (const other of byKind(prod(), 'Deployment').filter((d) => d.spec.template.metadata.labels['slotx.nhs.uk/trust'] !== o)) {
        expect(selects({ matchLabels: lb[0].spec.selector }, other.spec.template.metadata.labels)).toBe(false);
      }
      // `Local`: the PAS's own address reaches the pod, as the trust's NetworkPolicy expects.
      expect(lb[0].spec.externalTrafficPolicy).toBe('Local');
      expect(lb[0].spec.loadBalancerSourceRanges).toEqual(pas[t.ods].cidrs);
      const podPorts: Array<{ name: string; containerPort: number }> = api.spec.containers[0].ports;
      const reached = lb[0].spec.ports.map((p: any) => podPorts.find((x) => x.name === p.targetPort || x.containerPort === p.targetPort)?.containerPort);
      expect(reached.sort()).toEqual([t.mllpPort, t.httpPort].sort());
    }
    expect(lbs.length).toBe(ics.trusts.length);
  });

  it('puts on the public offers host only Notify\'s callbacks, the offer pages and their assets: never /metrics or /health', () => {
    const offers = byKind(prod(), 'Ingress').flatMap((i) => i.spec.rules).find((r: any) => r.host.startsWith('offers.'));
    const paths: string[] = offers.http.paths.map((p: any) => p.path);
    expect(paths.sort()).toEqual(['/assets/', '/notify/inbound', '/notify/status', '/o/']);
    for (const p of ['/metrics', '/health/ready', '/health/live', '/']) expect(paths.some((x) => p.startsWith(x))).toBe(false);
  });

  it('has the apps behind the ingress controller believe its X-Forwarded-For, and no other', () => {
    const trusting = byKind(prod(), 'Deployment').filter((d) => d.spec.template.spec.containers[0].env?.some((e: any) => e.name === 'TRUST_PROXY' && e.value === '1'));
    expect(trusting.map((d) => d.metadata.name).sort()).toEqual(['dashboard', 'notifier']);
  });

  it('runs Postgres by CloudNativePG and Redis with AOF and noeviction', () => {
    expect(byKind(prod(), 'Cluster')[0].spec.instances).toBeGreaterThanOrEqual(3);
    const conf = byKind(prod(), 'ConfigMap').find((c) => c.metadata.name === 'redis-config')!.data['redis.conf'];
    expect(conf).toMatch(/^maxmemory-policy noeviction$/m);
    expect(conf).toMatch(/^appendonly yes$/m);
  });

  it("leaves the notifier's Notify template ids to the operator: a placeholder for each kind of text, which the notifier refuses to start with", () => {
    const data = byKind(prod(), 'ConfigMap').find((c) => c.metadata.name === 'notifier')!.data as Record<string, string>;
    const settings = (Object.keys(SMS_TEMPLATES) as SmsKind[]).map((k) => TEMPLATE_SETTINGS[k]);
    expect(settings.filter((s) => !data[s])).toEqual([]);
    for (const kind of Object.keys(SMS_TEMPLATES) as SmsKind[]) expect(data[TEMPLATE_SETTINGS[kind]]).not.toBe(SMS_TEMPLATES[kind].id);
    let refused = '';
    try {
      loadConfig(NotifierConfig, data);
    } catch (e) {
      refused = (e as Error).message;
    }
    for (const s of settings) expect(refused).toContain(`${s}=`);
  });

  it('deploys every production app, the image by its release tag', () => {
    const apps = new Set(byKind(prod(), 'Deployment').map((d) => d.spec.template.spec.containers[0].args[0]));
    expect([...apps].sort()).toEqual(APPS.filter((a) => !SANDBOX_APPS.includes(a)).sort());
    for (const d of byKind(prod(), 'Deployment')) expect(d.spec.template.spec.containers[0].image).toMatch(/\/ics-slot-exchange:\d+\.\d+\.\d+$/);
  });
});

describe('local overlay', () => {
  it('runs the demo as `npm start` does: pas-sim cancels appointments and notify-sim\'s simulated patients answer the offers', () => {
    const local = rendered.local;
    const common = byKind(local, 'ConfigMap').find((c) => c.metadata.name === 'slotx-common')!.data as Record<string, string>;
    const env = (name: string) => {
      const c = byKind(local, 'Deployment').find((d) => d.metadata.name === name)!.spec.template.spec.containers[0];
      return { ...common, ...Object.fromEntries((c.env ?? []).map((e: any) => [e.name, e.value])) } as Record<string, string | undefined>;
    };
    expect(env('pas-sim').DEMO ?? '1').toBe('1'); // pas-sim's own default
    expect(env('notify-sim').SIM_AUTOREPLY).toBe('1'); // notify-sim's own default is 0
  });
});

describe('Postgres connections (production overlay)', () => {
  const prod = () => rendered['nwl-production'];
  const configMaps = () => new Map(byKind(prod(), 'ConfigMap').map((c) => [c.metadata.name, c.data as Record<string, string>]));
  /** A container's value of `name` as the process sees it: `env` over `envFrom` ConfigMaps, the later of those winning. */
  const effective = (c: any, name: string): string | undefined =>
    c.env?.find((e: { name: string }) => e.name === name)?.value ??
    [...(c.envFrom ?? [])].reverse().map((r: any) => r.configMapRef && configMaps().get(r.configMapRef.name)?.[name]).find((v) => v !== undefined);
  /** Each Deployment of an app with Postgres: its pool, the outbox relay's LISTEN connection (all but the dashboard), and its fewest and most pods. */
  const processes = () => byKind(prod(), 'Deployment').map((d) => {
    const c = d.spec.template.spec.containers[0];
    const hpa = byKind(prod(), 'HorizontalPodAutoscaler').find((h) => h.spec.scaleTargetRef.name === d.metadata.name)?.spec;
    const keda = byKind(prod(), 'ScaledObject').find((s) => s.spec.scaleTargetRef.name === d.metadata.name)?.spec;
    return {
      name: d.metadata.name, app: c.args[0] as string, pool: Number(effective(c, 'DATABASE_POOL_SIZE')),
      listen: c.args[0] === 'dashboard' ? 0 : 1,
      fewest: hpa?.minReplicas ?? keda?.minReplicaCount ?? d.spec.replicas,
      most: hpa?.maxReplicas ?? keda?.maxReplicaCount ?? d.spec.replicas,
    };
  });

  it('gives every process at least its own app\'s pool (booking sizes its pool for its reply batches)', () => {
    const small = processes().filter((p) => isProductionApp(p.app) && !(p.pool >= new APP_CONFIGS[p.app]().DATABASE_POOL_SIZE));
    expect(small.map((p) => `${p.name}: ${p.pool}`)).toEqual([]);
  });

  it('fits CloudNativePG\'s max_connections at the minimum replicas, and README.md states the budget at the minimums and maximums', () => {
    const total = (pods: 'fewest' | 'most') => processes().reduce((n, p) => n + p[pods] * (p.pool + p.listen), 0);
    const max = Number(byKind(prod(), 'Cluster')[0].spec.postgresql.parameters.max_connections);
    // Room for superuser_reserved_connections (3), replication and the operator's own.
    expect(total('fewest')).toBeLessThanOrEqual(max - 10);
    expect(notInReadme([`${total('fewest')} connections at the minimum replicas and ${total('most')} at the autoscalers' maximums`, `\`max_connections\` of ${max}`])).toEqual([]);
  });
});

describe('README.md sizing (production overlay)', () => {
  it('states the pods and the CPU and memory they request, as rendered', () => {
    const prod = rendered['nwl-production'];
    const cpu = (q: string) => (q.endsWith('m') ? Number(q.slice(0, -1)) / 1000 : Number(q));
    const gib = (q: string) => Number(q.replace(/Gi$|Mi$/, '')) / (q.endsWith('Mi') ? 1024 : 1);
    const requests = (pod: any) => pod.spec.containers.reduce((t: number[], c: any) => [t[0] + cpu(c.resources.requests.cpu), t[1] + gib(c.resources.requests.memory)], [0, 0]);
    const scaler = (d: K8sObject) => byKind(prod, 'HorizontalPodAutoscaler').find((h) => h.spec.scaleTargetRef.name === d.metadata.name)?.spec;
    const keda = (d: K8sObject) => byKind(prod, 'ScaledObject').find((s) => s.spec.scaleTargetRef.name === d.metadata.name)?.spec;
    const apps = (most: boolean) => byKind(prod, 'Deployment').map((d) => {
      const pods = most ? scaler(d)?.maxReplicas ?? keda(d)?.maxReplicaCount : scaler(d)?.minReplicas ?? keda(d)?.minReplicaCount;
      return { pods: pods ?? d.spec.replicas, each: requests(d.spec.template) };
    });
    const sum = (xs: Array<{ pods: number; each: number[] }>) => xs.reduce((t, x) => [t[0] + x.pods, t[1] + x.pods * x.each[0], t[2] + x.pods * x.each[1]], [0, 0, 0]);
    const data = [
      ...byKind(prod, 'StatefulSet').map((s) => ({ pods: s.spec.replicas, each: requests(s.spec.template) })),
      ...byKind(prod, 'Cluster').map((c) => ({ pods: c.spec.instances, each: [cpu(c.spec.resources.requests.cpu), gib(c.spec.resources.requests.memory)] })),
    ];
    const n = (x: number) => String(Number(x.toFixed(2)));
    const [fewest, cpuMin, memMin] = sum(apps(false));
    const [most, cpuMax, memMax] = sum(apps(true));
    const [, cpuAll, memAll] = sum([...apps(false), ...data]);
    expect(notInReadme([
      `${fewest} app pods at their minimum, requesting ${n(cpuMin)} vCPU and ${n(memMin)} GiB`,
      `${most} pods, ${n(cpuMax)} vCPU and ${n(memMax)} GiB, at every autoscaler's maximum`,
      `${n(cpuAll)} vCPU and ${n(memAll)} GiB requested in all`,
    ])).toEqual([]);
  });
});

describe('generated manifests', () => {
  it('match config/ and the overlays\' pas.json (run `npm run k8s:generate` after changing them)', () => {
    for (const [path, content] of Object.entries(generate(ROOT))) {
      expect({ path, upToDate: readFileSync(join(ROOT, path), 'utf8') === content }).toEqual({ path, upToDate: true });
    }
  });
});

describe('the image entrypoint', () => {
  it('knows every app and refuses an unknown name', () => {
    for (const a of APPS) expect(mainFor(a, '/app/dist')).toBe(`/app/dist/apps/${a}/src/main.js`);
    expect(() => mainFor('everything')).toThrow(/unknown app "everything"/);
  });
});
