/**
 * What a set of rendered NetworkPolicies actually lets through, for the manifest tests. Endpoints
 * (rendered pod templates, and what lives outside the overlay: kube-dns, CloudNativePG's
 * instances, the ingress controller, a PAS at its address) are matched against each policy's
 * selectors and ports as Kubernetes matches them. A check on the policies' text passes when
 * kustomize has quietly added a label to a peer selector that no real pod carries; this does not.
 */

type Labels = Record<string, string>;
interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: Array<{ key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }>;
}
interface Peer { podSelector?: LabelSelector; namespaceSelector?: LabelSelector; ipBlock?: { cidr: string; except?: string[] } }
interface PolicyPort { protocol?: string; port?: number | string; endPort?: number }
interface Rule { from?: Peer[]; to?: Peer[]; ports?: PolicyPort[] }
export interface Policy {
  metadata: { name: string; namespace?: string };
  spec: { podSelector: LabelSelector; policyTypes?: string[]; ingress?: Rule[]; egress?: Rule[] };
}

/** A pod (namespace and labels) or an address outside the cluster (ip). */
export interface Endpoint {
  name: string;
  namespace?: string;
  labels?: Labels;
  ip?: string;
  /** Named container ports, which a policy's port may name. */
  ports?: Array<{ name?: string; containerPort: number }>;
}

export function selects(selector: LabelSelector | undefined, labels: Labels): boolean {
  const s = selector ?? {};
  const has = (key: string) => key in labels;
  return (
    Object.entries(s.matchLabels ?? {}).every(([k, v]) => labels[k] === v) &&
    (s.matchExpressions ?? []).every((e) => {
      switch (e.operator) {
        case 'In': return has(e.key) && (e.values ?? []).includes(labels[e.key]);
        case 'NotIn': return !has(e.key) || !(e.values ?? []).includes(labels[e.key]);
        case 'Exists': return has(e.key);
        case 'DoesNotExist': return !has(e.key);
      }
    })
  );
}

const ipv4 = (ip: string) => ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  return Math.floor(ipv4(ip) / size) === Math.floor(ipv4(base) / size);
}

/** A namespace's labels: Kubernetes gives each its own name as `kubernetes.io/metadata.name`. */
const namespaceLabels = (ns: string): Labels => ({ 'kubernetes.io/metadata.name': ns });

function peerMatches(peer: Peer, policyNamespace: string | undefined, ep: Endpoint): boolean {
  if (peer.ipBlock) {
    return !!ep.ip && inCidr(ep.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((c) => inCidr(ep.ip!, c));
  }
  // Pod and namespace selectors reach pods only, never an outside address.
  if (!ep.namespace) return false;
  const namespaceOk = peer.namespaceSelector ? selects(peer.namespaceSelector, namespaceLabels(ep.namespace)) : ep.namespace === policyNamespace;
  return namespaceOk && (!peer.podSelector || selects(peer.podSelector, ep.labels ?? {}));
}

function portMatches(ports: PolicyPort[] | undefined, port: number, protocol: string, dest: Endpoint): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? 'TCP') !== protocol) return false;
    if (p.port === undefined) return true;
    // A named port is the destination pod's container port of that name.
    const n = typeof p.port === 'number' ? p.port : dest.ports?.find((x) => x.name === p.port)?.containerPort;
    return n !== undefined && (p.endPort ? port >= n && port <= p.endPort : port === n);
  });
}

/** Whether `ep`'s policies of one direction allow traffic with `peer` on `port` of `dest`. */
function allowed(policies: Policy[], ep: Endpoint, direction: 'Ingress' | 'Egress', peer: Endpoint, port: number, protocol: string, dest: Endpoint): boolean {
  if (!ep.namespace) return true; // outside the cluster: no policy of ours applies
  const types = (p: Policy) => p.spec.policyTypes ?? (p.spec.egress ? ['Ingress', 'Egress'] : ['Ingress']);
  const own = policies.filter((p) => (p.metadata.namespace ?? ep.namespace) === ep.namespace && selects(p.spec.podSelector, ep.labels ?? {}) && types(p).includes(direction));
  if (own.length === 0) return true;
  return own.some((p) =>
    ((direction === 'Ingress' ? p.spec.ingress : p.spec.egress) ?? []).some((r) => {
      const peers = direction === 'Ingress' ? r.from : r.to;
      const peerOk = !peers || peers.length === 0 || peers.some((x) => peerMatches(x, p.metadata.namespace ?? ep.namespace, peer));
      return peerOk && portMatches(r.ports, port, protocol, dest);
    }),
  );
}

/** Whether `from` can open a connection to `to` on `port`: its egress and the other end's ingress both allow it. */
export function canConnect(policies: Policy[], from: Endpoint, to: Endpoint, port: number, protocol = 'TCP'): boolean {
  return allowed(policies, from, 'Egress', to, port, protocol, to) && allowed(policies, to, 'Ingress', from, port, protocol, to);
}
