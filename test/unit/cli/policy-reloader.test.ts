import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPolicyReloader, type PolicyReloader } from '../../../cli/policy-reloader.js';
import { loadPolicyFiles } from '../../../cli/policy-set.js';
import { decodePolicyDocuments } from '../../../shared/policy/decode-documents.js';
import type { PolicyFile } from '../../../shared/policy/parse-policy-stream.js';
import { readPolicyFiles } from '../../../shared/policy/policy-files.js';
import type { LogFields, MetricLabels } from '../../../shared/ports.js';

const policy = (name: string, pattern: string): string => `apiVersion: portieris.cloud.ibm.com/v1
kind: ClusterImagePolicy
metadata:
  name: ${name}
spec:
  repositories:
    - name: "${pattern}"
`;

interface Recorded {
  readonly logs: { level: string; message: string; fields: LogFields }[];
  readonly counts: Map<string, number>;
}

let dir: string;
let recorded: Recorded;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trustgate-policies-'));
  recorded = { logs: [], counts: new Map() };
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function reloaderOver(read: (path: string) => Promise<PolicyFile[]> = readPolicyFiles): Promise<PolicyReloader> {
  const initial = await loadPolicyFiles(dir);
  const log = (level: string) => (message: string, fields: LogFields = {}) => recorded.logs.push({ level, message, fields });
  return createPolicyReloader({
    path: dir,
    ...initial,
    read,
    decode: decodePolicyDocuments,
    logger: { info: log('info'), warn: log('warn'), error: log('error') },
    metrics: {
      increment: (name: string, labels: MetricLabels = {}) => recorded.counts.set(`${name}${JSON.stringify(labels)}`, (recorded.counts.get(`${name}${JSON.stringify(labels)}`) ?? 0) + 1),
      observe: () => undefined,
    },
  });
}

const patterns = (reloader: PolicyReloader): string[] => reloader.current().clusterPolicies.flatMap((p) => p.repositories.map((r) => r.name));

describe('createPolicyReloader', () => {
  describe('when the files have not changed', () => {
    it('keeps the same policy set object', async () => {
      await writeFile(join(dir, 'cluster.yaml'), policy('one', 'docker.io/*'));
      const reloader = await reloaderOver();
      const before = reloader.current();
      expect(await reloader.reload('interval')).toBe('unchanged');
      expect(reloader.current()).toBe(before);
      expect(recorded.logs).toHaveLength(0);
    });
  });

  describe('when a file changed and still decodes', () => {
    it('puts the new set in force, logs it and counts it', async () => {
      await writeFile(join(dir, 'cluster.yaml'), policy('one', 'docker.io/*'));
      const reloader = await reloaderOver();
      await writeFile(join(dir, 'cluster.yaml'), policy('one', 'quay.io/*'));
      await writeFile(join(dir, 'more.yaml'), policy('two', 'ghcr.io/*'));
      expect(await reloader.reload('SIGHUP')).toBe('reloaded');
      expect(patterns(reloader).sort()).toEqual(['ghcr.io/*', 'quay.io/*']);
      expect(recorded.logs).toEqual([{ level: 'info', message: 'policies reloaded', fields: expect.objectContaining({ trigger: 'SIGHUP', clusterImagePolicies: 2 }) as unknown }]);
      expect(recorded.counts.get('trustgate_policy_reloads_total{"outcome":"reloaded"}')).toBe(1);
    });
  });

  describe('when a changed file no longer decodes', () => {
    it('keeps the policies in force, logs every problem and counts the refusal', async () => {
      await writeFile(join(dir, 'cluster.yaml'), policy('one', 'docker.io/*'));
      const reloader = await reloaderOver();
      const before = reloader.current();
      await writeFile(join(dir, 'cluster.yaml'), `${policy('one', 'quay.io/*')}---\nkind: ImagePolicy\nmetadata: {}\n`);
      expect(await reloader.reload('interval')).toBe('rejected');
      expect(reloader.current()).toBe(before);
      expect(patterns(reloader)).toEqual(['docker.io/*']);
      const [entry] = recorded.logs;
      expect(entry).toMatchObject({ level: 'error', message: 'policies not reloaded: the policies in force stay in force' });
      expect((entry?.fields['problems'] as string[]).every((line) => line.startsWith('cluster.yaml:2'))).toBe(true);
      expect(recorded.counts.get('trustgate_policy_reloads_total{"outcome":"rejected"}')).toBe(1);
    });

    it('keeps the policies in force when the change is a pattern no image can match', async () => {
      await writeFile(join(dir, 'cluster.yaml'), policy('one', 'registry.example.com/prod/*'));
      const reloader = await reloaderOver();
      const before = reloader.current();
      await writeFile(join(dir, 'cluster.yaml'), policy('one', 'registry.example.com/Prod/*'));
      expect(await reloader.reload('interval')).toBe('rejected');
      expect(reloader.current()).toBe(before);
      const problems = recorded.logs[0]?.fields['problems'] as string[];
      expect(problems).toEqual([expect.stringContaining('cluster.yaml:1: spec.repositories[0].name: ')]);
    });

    it('puts the fixed files in force on a later reload', async () => {
      await writeFile(join(dir, 'cluster.yaml'), policy('one', 'docker.io/*'));
      const reloader = await reloaderOver();
      await writeFile(join(dir, 'cluster.yaml'), 'kind: [');
      expect(await reloader.reload('interval')).toBe('rejected');
      expect(await reloader.reload('interval')).toBe('rejected');
      await writeFile(join(dir, 'cluster.yaml'), policy('one', 'quay.io/*'));
      expect(await reloader.reload('interval')).toBe('reloaded');
      expect(patterns(reloader)).toEqual(['quay.io/*']);
    });
  });

  describe('when the folder cannot be read any more', () => {
    it('keeps the policies in force', async () => {
      await writeFile(join(dir, 'cluster.yaml'), policy('one', 'docker.io/*'));
      const reloader = await reloaderOver();
      await rm(dir, { recursive: true });
      expect(await reloader.reload('SIGHUP')).toBe('rejected');
      expect(patterns(reloader)).toEqual(['docker.io/*']);
      expect(recorded.logs[0]?.fields['problems']).toEqual([expect.stringContaining('cannot read policy files')]);
    });
  });

  describe('when reading fails in an unexpected way', () => {
    it('keeps the policies in force and reports the error instead of throwing', async () => {
      await writeFile(join(dir, 'cluster.yaml'), policy('one', 'docker.io/*'));
      const reloader = await reloaderOver(() => Promise.reject(new Error('disk on fire')));
      const before = reloader.current();
      expect(await reloader.reload('interval')).toBe('rejected');
      expect(reloader.current()).toBe(before);
      expect(recorded.logs[0]?.fields['problems']).toEqual(['disk on fire']);
    });
  });

  describe('when reloads are asked for while one runs', () => {
    it('reads the files once for all of them', async () => {
      await writeFile(join(dir, 'cluster.yaml'), policy('one', 'docker.io/*'));
      let reads = 0;
      const reloader = await reloaderOver(async (path) => {
        reads += 1;
        return readPolicyFiles(path);
      });
      await writeFile(join(dir, 'cluster.yaml'), policy('one', 'quay.io/*'));
      const outcomes = await Promise.all([reloader.reload('SIGHUP'), reloader.reload('interval'), reloader.reload('SIGHUP')]);
      expect(outcomes).toEqual(['reloaded', 'reloaded', 'reloaded']);
      expect(reads).toBe(1);
      expect(await reloader.reload('interval')).toBe('unchanged');
      expect(reads).toBe(2);
    });
  });
});
