import { describe, expect, it } from 'vitest';
import { createBatchedSink } from '../../../shared/logging/batched-sink.js';

describe('createBatchedSink', () => {
  it('writes the lines of one turn together, in order, once the turn ends', () => {
    const written: string[] = [];
    const turns: (() => void)[] = [];
    const sink = createBatchedSink((text) => written.push(text), (run) => turns.push(run));
    sink.write('a');
    sink.write('b');
    expect(written).toEqual([]);
    expect(turns).toHaveLength(1);
    turns[0]?.();
    expect(written).toEqual(['a\nb\n']);
  });

  it('writes pending lines at once on flush, and nothing twice', () => {
    const written: string[] = [];
    const turns: (() => void)[] = [];
    const sink = createBatchedSink((text) => written.push(text), (run) => turns.push(run));
    sink.write('a');
    sink.flush();
    turns[0]?.();
    expect(written).toEqual(['a\n']);
  });
});
