// The /admit endpoint's decision log line, over a verify function that answers from a table.
import { describe, expect, it } from 'vitest';
import { createAdmitEndpoint } from '../../../infra/webhook-proxy/admit-endpoint.js';
import { startBudgetTimer } from '../../../infra/webhook-proxy/budget-timer.js';
import { ADMISSION_METRICS, TRUST_METRICS } from '../../../shared/metrics/admission-metrics.js';
import { createPrometheusRegistry } from '../../../shared/metrics/prometheus-registry.js';
import { createJsonLogger } from '../../../shared/logging/json-logger.js';
import type { LogFields, Logger } from '../../../shared/ports.js';
import { fixedClock } from '../../support/clocks.js';
import type { VerifyImageResponse } from '../../../shared/verify/verify-image.js';
import { objectOfKind, podSpec, reviewFor } from '../../support/admission-reviews.js';

const DIGEST = `sha256:${'cd'.repeat(32)}`;

function capturingLogger(): { logger: Logger; lines: { message: string; fields: LogFields | undefined }[] } {
  const lines: { message: string; fields: LogFields | undefined }[] = [];
  const push = (message: string, fields?: LogFields): void => void lines.push({ message, fields });
  return { logger: { info: push, warn: push, error: push }, lines };
}

async function admitWith(answer: Partial<VerifyImageResponse>): Promise<{ images: unknown }> {
  const { logger, lines } = capturingLogger();
  const admit = createAdmitEndpoint({
    admission: {
      verify: (image) => Promise.resolve({ allowed: true, image, digest: DIGEST, reasons: [], codes: [], signers: ['targets'], ...answer }),
      budgetMs: 1000,
      startTimer: startBudgetTimer,
    },
    metrics: createPrometheusRegistry({ ...ADMISSION_METRICS, ...TRUST_METRICS }),
    logger,
    elapsedMs: () => 0,
  });
  const review = reviewFor('Pod', objectOfKind('Pod', podSpec({ containers: [{ name: 'app', image: 'registry.test:5000/it/app:v1' }] })));
  const answered = await admit(new TextEncoder().encode(JSON.stringify(review)));
  expect(answered.status).toBe(200);
  const decision = lines.find((line) => line.message === 'admission decision');
  // As any JSON log line holds it (the endpoint hands the images over as JSON text).
  return { images: (JSON.parse(JSON.stringify(decision?.fields ?? {})) as LogFields)['images'] };
}

describe('createAdmitEndpoint', () => {
  describe('when it logs through the JSON logger', () => {
    it('writes one decision line holding every image with its containers, outcome, digest and policy', async () => {
      const lines: string[] = [];
      const logger = createJsonLogger((line) => lines.push(line), fixedClock(new Date('2031-02-03T04:05:06.789Z')));
      const policy = { kind: 'ClusterImagePolicy' as const, name: 'signed', pattern: 'registry.test:5000/it/*' };
      const admit = createAdmitEndpoint({
        admission: {
          verify: (image) => Promise.resolve({ allowed: true, image, digest: DIGEST, reasons: [], codes: [], signers: ['targets'], policy, verifiedBy: ['notary' as const] }),
          budgetMs: 1000,
          startTimer: startBudgetTimer,
        },
        metrics: createPrometheusRegistry({ ...ADMISSION_METRICS, ...TRUST_METRICS }),
        logger,
        elapsedMs: () => 0,
      });
      const spec = podSpec({ containers: [{ name: 'app', image: 'registry.test:5000/it/app:v1' }, { name: 'copy', image: 'registry.test:5000/it/app:v1' }, { name: 'b"\\n', image: 'registry.test:5000/it/other:v1' }] });
      await admit(new TextEncoder().encode(JSON.stringify(reviewFor('Pod', objectOfKind('Pod', spec), { uid: 'uid-1' }))));
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0] ?? '')).toEqual({
        time: '2031-02-03T04:05:06.789Z',
        level: 'info',
        message: 'admission decision',
        uid: 'uid-1',
        kind: 'Pod',
        namespace: 'default',
        name: expect.any(String) as unknown,
        operation: 'CREATE',
        outcome: 'allowed',
        status: 200,
        durationMs: 0,
        images: [
          { image: 'registry.test:5000/it/app:v1', containers: ['app', 'copy'], outcome: 'allowed', codes: [], digest: DIGEST, policy, verifiedBy: ['notary'] },
          { image: 'registry.test:5000/it/other:v1', containers: ['b"\\n'], outcome: 'allowed', codes: [], digest: DIGEST, policy, verifiedBy: ['notary'] },
        ],
      });
    });
  });

  describe('when an UPDATE keeps images the old object already held', () => {
    const APP = 'registry.test:5000/it/app';
    async function admitUpdate(lists: Parameters<typeof podSpec>[0], oldLists: Parameters<typeof podSpec>[0]): Promise<{ line: Record<string, unknown>; verified: string[]; metrics: string }> {
      const lines: string[] = [];
      const verified: string[] = [];
      const metrics = createPrometheusRegistry({ ...ADMISSION_METRICS, ...TRUST_METRICS });
      const admit = createAdmitEndpoint({
        admission: {
          verify: (image) => {
            verified.push(image);
            return Promise.resolve({ allowed: true, image, digest: DIGEST, reasons: [], codes: [], signers: ['targets'], verifiedBy: ['notary' as const] });
          },
          budgetMs: 1000,
          startTimer: startBudgetTimer,
        },
        metrics,
        logger: createJsonLogger((line) => lines.push(line), fixedClock(new Date('2031-02-03T04:05:06.789Z'))),
        elapsedMs: () => 0,
      });
      const review = reviewFor('Pod', objectOfKind('Pod', podSpec(lists)), { capture: 'podUpdate', oldObject: objectOfKind('Pod', podSpec(oldLists)) });
      expect((await admit(new TextEncoder().encode(JSON.stringify(review)))).status).toBe(200);
      expect(lines).toHaveLength(1);
      return { line: JSON.parse(lines[0] ?? '') as Record<string, unknown>, verified, metrics: metrics.render() };
    }

    it('logs an UPDATE that changes no image as unchecked, naming the unchanged images, and counts it so', async () => {
      const lists = { containers: [{ name: 'app', image: `${APP}:v1` }, { name: 'copy', image: `${APP}:v1` }] };
      const { line, verified, metrics } = await admitUpdate(lists, lists);
      expect(verified).toEqual([]);
      expect(line).toMatchObject({
        operation: 'UPDATE',
        outcome: 'unchecked',
        images: [],
        unchanged: [`${APP}:v1`],
        reason: 'trustgate allowed without checks: operation UPDATE changes no image (1 image unchanged from the old object)',
      });
      expect(metrics).toContain('trustgate_admission_decisions_total{outcome="unchecked"} 1');
      expect(metrics).not.toContain('trustgate_verifications_total{');
    });

    it('logs the verified new image and the unchanged ones apart', async () => {
      const { line, verified } = await admitUpdate(
        { containers: [{ name: 'app', image: `${APP}:v2` }, { name: 'side', image: `${APP}:side` }] },
        { containers: [{ name: 'app', image: `${APP}:v1` }, { name: 'side', image: `${APP}:side` }] },
      );
      expect(verified).toEqual([`${APP}:v2`]);
      expect(line).toMatchObject({ outcome: 'allowed', images: [expect.objectContaining({ image: `${APP}:v2`, containers: ['app'] }) as unknown], unchanged: [`${APP}:side`] });
    });
  });

  describe('when an image was verified from cached trust data during an outage', () => {
    it('marks that image stale in the decision log line', async () => {
      const { images } = await admitWith({ stale: true });
      expect(images).toEqual([expect.objectContaining({ image: 'registry.test:5000/it/app:v1', outcome: 'allowed', stale: true }) as unknown]);
    });
  });

  describe('when the trust server answered', () => {
    it('does not mark the image stale', async () => {
      const { images } = await admitWith({});
      expect(images).toEqual([expect.not.objectContaining({ stale: true }) as unknown]);
    });
  });
});
