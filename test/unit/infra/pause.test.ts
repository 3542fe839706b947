import { describe, expect, it } from 'vitest';
import { createStopController, pauseFor } from '../../../infra/clock/pause.js';

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

  describe('when 20 pauses wait on one stop signal at once', () => {
    // The warnings Node emits while `run` runs (and the ticks after it).
    async function warningsDuring(run: () => Promise<void>): Promise<string[]> {
      const warnings: string[] = [];
      const record = (warning: Error): void => void warnings.push(warning.name);
      process.on('warning', record);
      try {
        await run();
        await new Promise((resolve) => setImmediate(resolve));
      } finally {
        process.off('warning', record);
      }
      return warnings;
    }

    const twentyPausesThenStop = (stop: AbortController) => async (): Promise<void> => {
      const paused = Array.from({ length: 20 }, () => pauseFor(AN_HOUR_MS, stop.signal));
      await new Promise((resolve) => setImmediate(resolve));
      stop.abort();
      await Promise.all(paused);
    };

    it('prints no warning with the process\'s stop controller, and every pause ends at the stop', async () => {
      expect(await warningsDuring(twentyPausesThenStop(createStopController()))).toEqual([]);
    });
  });
});
