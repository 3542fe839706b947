import { describe, expect, it } from 'vitest';
import { pauseFor } from '../../../infra/clock/pause.js';

const AN_HOUR_MS = 60 * 60 * 1000;

describe('pauseFor', () => {
  describe('when its signal is already aborted', () => {
    it('resolves without waiting out the pause', async () => {
      const stop = new AbortController();
      stop.abort();
      await expect(pauseFor(AN_HOUR_MS, stop.signal)).resolves.toBeUndefined();
    });
  });

  describe('when its signal is aborted during the pause', () => {
    it('resolves then, before its timer', async () => {
      const stop = new AbortController();
      const paused = pauseFor(AN_HOUR_MS, stop.signal);
      stop.abort();
      await expect(paused).resolves.toBeUndefined();
    });
  });

  describe('without a signal', () => {
    it('resolves once its timer has run', async () => {
      await expect(pauseFor(1)).resolves.toBeUndefined();
    });
  });
});
