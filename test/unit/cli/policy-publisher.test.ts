import { describe, expect, it } from 'vitest';
import { startPolicyPublisher } from '../../../cli/policy-publisher.js';
import { createMemoryStore } from '../../../shared/cache/memory-store.js';
import { createPrometheusRegistry } from '../../../shared/metrics/prometheus-registry.js';
import type { PolicySet } from '../../../shared/policy/model.js';
import { silentLogger, type KvItem, type KvPutOptions, type KvStore } from '../../../shared/ports.js';
import { fixedClock } from '../../support/clocks.js';

const CLOCK = fixedClock(new Date(Date.UTC(2041, 0, 1)));
const SET: PolicySet = { imagePolicies: [], clusterPolicies: [], secrets: [] };

// A store whose writes wait until released, recording when each one landed.
function slowStore(): { kv: KvStore; landed: string[]; release: () => void } {
  const inner = createMemoryStore({ clock: CLOCK });
  const landed: string[] = [];
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const kv: KvStore = {
    get: (key) => inner.get(key),
    delete: (key) => inner.delete(key),
    put: async (key: string, item: KvItem, options?: KvPutOptions) => {
      await gate;
      landed.push(key);
      return inner.put(key, item, options);
    },
  };
  return { kv, landed, release: open };
}

describe('the policy snapshot publisher', () => {
  it('stops only once a publish under way has landed, so nothing it writes comes after', async () => {
    const store = slowStore();
    let set = SET;
    const publisher = startPolicyPublisher({ current: () => set, kv: store.kv, clusterId: 'c1', intervalMs: 60_000, clock: CLOCK, logger: silentLogger, metrics: createPrometheusRegistry({}) });
    let stopped = false;
    const stopping = publisher.stop().then(() => (stopped = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    store.release();
    await stopping;
    const writes = store.landed.length;
    expect(writes).toBeGreaterThan(0);
    expect(store.landed).toContain('policy-snapshot/c1/head');
    // A changed set after the stop is not published.
    set = { ...SET };
    await publisher.publish();
    expect(store.landed).toHaveLength(writes);
  });
});
