// What a cosign threshold counts: distinct signers, each for at most one authority.
// A signer is known by labels read from its verified signatures: `key:<SHA-256 of the key's
// identity>` (its numbers, key-identity.ts, whatever DER spelling it came in) of the key that
// verified (an authority's own key, or the key a Fulcio certificate certifies) and, for a
// certificate, `identity:<issuer, subject>` (the OIDC issuer and the SAN).
// Every label of one signature names one signer, so labels shared by signatures join their
// signers into one (union-find). The threshold is met when a maximum bipartite matching
// between authorities and signers, an edge wherever a verified signature of the signer
// satisfies the authority, assigns at least `threshold` authorities each its own signer.
// Security: authorities overlap. An exact release-workflow subject and a pattern matching
// every workflow of the organisation are both satisfied by one release signature, as are two
// authorities naming one key under two names; counting satisfied authorities would let that
// one signer meet `threshold: 2` alone. Counting signatures would not help either: the same
// workflow or key signs twice at will. A signer therefore counts once, for one authority,
// however many signatures it made and however many authorities they satisfy; and one
// signature verified both with a key and through a certificate is one signer, not two.
// Two different identities that each satisfy both overlapping authorities do meet threshold 2:
// the matching gives one authority to each. What is not knowable from signatures (one person
// holding two keys, or a key and an OIDC account) is the policy's to rule out, not ours.
// Sizes are bounded (the registry limits cap signatures, policies cap authorities), so a simple
// augmenting-path matching (Kuhn's algorithm) is enough.

// One authority a verified signature satisfies: the authority's index, the signature's
// signer labels and the detail to report (`(subject from issuer)` for a certificate).
export interface SignerEdge {
  readonly authority: number;
  readonly labels: readonly string[];
  readonly detail: string;
}

// The outcome for one authority: the detail of the signature that satisfied it for the signer
// it was assigned, or why it counts for nothing.
export type AuthorityOutcome =
  | { readonly kind: 'assigned'; readonly detail: string }
  | { readonly kind: 'shared'; readonly with: number }
  | { readonly kind: 'unsatisfied' };

export interface SignerTally {
  // Records the edges of one verified signature (all its labels name one signer).
  add(edges: readonly SignerEdge[]): void;
  // How many authorities have a signer of their own now.
  assignedCount(): number;
  // Per authority (by index): assigned, satisfied only by signers assigned to another
  // authority (`with` names one), or not satisfied at all.
  outcomes(): readonly AuthorityOutcome[];
}

// The label of a key (for key authorities and the key a certificate certifies).
export function keyLabel(spkiSha256Hex: string): string {
  return `key:${spkiSha256Hex}`;
}

// The label of a certificate identity: the issuer and the subject, exactly as certified.
export function identityLabel(issuer: string, subject: string): string {
  return `identity:${JSON.stringify([issuer, subject])}`;
}

// A tally for `authorityCount` authorities; the matching is recomputed on demand.
export function createSignerTally(authorityCount: number): SignerTally {
  const parent = new Map<string, string>();
  const edges: SignerEdge[] = [];
  const find = (label: string): string => {
    let root = label;
    for (let next = parent.get(root); next !== undefined && next !== root; next = parent.get(root)) root = next;
    // Path compression keeps later look-ups short.
    for (let at = label; at !== root; ) {
      const next = parent.get(at) ?? root;
      parent.set(at, root);
      at = next;
    }
    return root;
  };
  const union = (a: string, b: string): void => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent.set(rb, ra);
  };

  // The matching over signers as the labels join them now: per authority its signer (a
  // root label) or undefined, and the edges to it.
  function match(): { assigned: readonly (string | undefined)[]; adjacency: readonly (readonly { signer: string; detail: string }[])[] } {
    const adjacency: { signer: string; detail: string }[][] = Array.from({ length: authorityCount }, () => []);
    for (const edge of edges) {
      const signer = find(edge.labels[0] ?? '');
      const list = adjacency[edge.authority];
      if (list !== undefined && !list.some((known) => known.signer === signer)) list.push({ signer, detail: edge.detail });
    }
    const assigned = maximumMatching(adjacency.map((list) => list.map((entry) => entry.signer)));
    return { assigned, adjacency };
  }

  return {
    add(signature) {
      for (const edge of signature) {
        if (edge.authority < 0 || edge.authority >= authorityCount || edge.labels.length === 0) throw new RangeError('signer edge out of range');
        for (const label of edge.labels) if (!parent.has(label)) parent.set(label, label);
        edges.push(edge);
      }
      const labels = signature.flatMap((edge) => edge.labels);
      for (const label of labels.slice(1)) union(labels[0] ?? label, label);
    },
    assignedCount() {
      return match().assigned.filter((signer) => signer !== undefined).length;
    },
    outcomes() {
      const { assigned, adjacency } = match();
      const holder = new Map<string, number>();
      assigned.forEach((signer, authority) => {
        if (signer !== undefined) holder.set(signer, authority);
      });
      return adjacency.map((list, authority): AuthorityOutcome => {
        const signer = assigned[authority];
        if (signer !== undefined) return { kind: 'assigned', detail: list.find((entry) => entry.signer === signer)?.detail ?? '' };
        const first = list[0];
        if (first === undefined) return { kind: 'unsatisfied' };
        return { kind: 'shared', with: holder.get(first.signer) ?? authority };
      });
    },
  };
}

// A maximum bipartite matching: `adjacency[a]` lists the signers authority `a` may be given,
// in preference order; the answer gives each authority its signer or undefined, no signer to
// two authorities. Authorities are served in order, each by an augmenting path (Kuhn), a
// free signer first, so the result is deterministic and moves earlier choices only when
// that lets one more authority count.
export function maximumMatching<S>(adjacency: readonly (readonly S[])[]): readonly (S | undefined)[] {
  const owner = new Map<S, number>();
  const assigned: (S | undefined)[] = adjacency.map(() => undefined);
  // Tries to give `authority` a signer: a free one if it has one, else one moved from an
  // earlier assignment along an alternating path.
  const augment = (authority: number, visited: Set<S>): boolean => {
    const free = adjacency[authority]?.find((signer) => !owner.has(signer) && !visited.has(signer));
    if (free !== undefined) {
      visited.add(free);
      owner.set(free, authority);
      assigned[authority] = free;
      return true;
    }
    for (const signer of adjacency[authority] ?? []) {
      if (visited.has(signer)) continue;
      visited.add(signer);
      const current = owner.get(signer);
      if (current === undefined || augment(current, visited)) {
        owner.set(signer, authority);
        assigned[authority] = signer;
        return true;
      }
    }
    return false;
  };
  for (let authority = 0; authority < adjacency.length; authority += 1) augment(authority, new Set<S>());
  return assigned;
}
