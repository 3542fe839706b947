import { describe, expect, it } from 'vitest';
import { createBatchedSink } from '../../../shared/logging/batched-sink.js';

// A schedule that records each timer so the test decides when it fires.
function manualTimers(): { readonly schedule: (run: () => void, delayMs: number) => void; readonly delays: number[]; fire(index: number): void } {
  const runs: (() => void)[] = [];
  const delays: number[] = [];
  return {
    schedule: (run, delayMs) => {
      runs.push(run);
      delays.push(delayMs);
    },
    delays,
    fire: (index) => runs[index]?.(),
  };
}

describe('createBatchedSink', () => {
  it('writes the lines of one batch together, in order, when its timer fires', () => {
    const written: string[] = [];
    const timers = manualTimers();
    const sink = createBatchedSink((text) => written.push(text), { schedule: timers.schedule, maxDelayMs: 7 });
    sink.write('a');
    sink.write('b');
    expect(written).toEqual([]);
    expect(timers.delays).toEqual([7]);
    timers.fire(0);
    expect(written).toEqual(['a\nb\n']);
  });

  it('writes pending lines at once on flush, and nothing twice', () => {
    const written: string[] = [];
    const timers = manualTimers();
    const sink = createBatchedSink((text) => written.push(text), { schedule: timers.schedule });
    sink.write('a');
    sink.flush();
    timers.fire(0);
    sink.flush();
    expect(written).toEqual(['a\n']);
  });

  it('writes a batch as soon as it reaches the size limit', () => {
    const written: string[] = [];
    const timers = manualTimers();
    const sink = createBatchedSink((text) => written.push(text), { schedule: timers.schedule, maxBytes: 8 });
    sink.write('abc');
    expect(written).toEqual([]);
    sink.write('defg');
    expect(written).toEqual(['abc\ndefg\n']);
  });

  it('does not let the timer of a batch written early cut the next batch short', () => {
    const written: string[] = [];
    const timers = manualTimers();
    const sink = createBatchedSink((text) => written.push(text), { schedule: timers.schedule, maxBytes: 8 });
    sink.write('abc');
    sink.write('defg');
    expect(written).toEqual(['abc\ndefg\n']);
    sink.write('next');
    timers.fire(0);
    expect(written).toEqual(['abc\ndefg\n']);
    sink.write('more');
    timers.fire(1);
    expect(written).toEqual(['abc\ndefg\n', 'next\nmore\n']);
  });

  it('writes on the default timer without being flushed', async () => {
    const written: string[] = [];
    const sink = createBatchedSink((text) => written.push(text), { maxDelayMs: 1 });
    sink.write('a');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(written).toEqual(['a\n']);
  });
});
