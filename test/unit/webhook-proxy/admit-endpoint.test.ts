// The /admit endpoint's decision log line, over a verify function that answers from a table.
import { describe, expect, it } from 'vitest';
import { createAdmitEndpoint } from '../../../infra/webhook-proxy/admit-endpoint.js';
import { startBudgetTimer } from '../../../infra/webhook-proxy/budget-timer.js';
import { ADMISSION_METRICS, TRUST_METRICS } from '../../../shared/metrics/admission-metrics.js';
import { createPrometheusRegistry } from '../../../shared/metrics/prometheus-registry.js';
import type { LogFields, Logger } from '../../../shared/ports.js';
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
  return { images: decision?.fields?.['images'] };
}

describe('createAdmitEndpoint', () => {
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
