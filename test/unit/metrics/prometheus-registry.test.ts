import { describe, expect, it } from 'vitest';
import { ADMISSION_METRICS, AdmissionMetric } from '../../../shared/metrics/admission-metrics.js';
import { createPrometheusRegistry, escapeLabelValue } from '../../../shared/metrics/prometheus-registry.js';

describe('createPrometheusRegistry', () => {
  describe('when nothing was recorded', () => {
    it('renders HELP and TYPE for every metric and 0 for unlabelled counters', () => {
      const text = createPrometheusRegistry(ADMISSION_METRICS).render();
      expect(text).toContain('# TYPE trustgate_admission_requests_total counter\ntrustgate_admission_requests_total 0\n');
      expect(text).toContain('# TYPE trustgate_admission_duration_seconds histogram\n');
      expect(text).toContain('# HELP trustgate_verifications_total ');
      expect(text.endsWith('\n')).toBe(true);
    });
  });

  describe('when counters are incremented with labels', () => {
    it('renders one sample per label set, labels in a stable order', () => {
      const registry = createPrometheusRegistry({ t_total: { type: 'counter', help: 'test' } });
      registry.increment('t_total', { outcome: 'denied', code: 'X' });
      registry.increment('t_total', { code: 'X', outcome: 'denied' }, 2);
      registry.increment('t_total', { outcome: 'allowed' });
      expect(registry.render()).toBe(
        '# HELP t_total test\n# TYPE t_total counter\nt_total{outcome="denied",code="X"} 3\nt_total{outcome="allowed"} 1\n',
      );
    });

    it('keeps label sets apart that a naive key would merge', () => {
      const registry = createPrometheusRegistry({ t_total: { type: 'counter', help: 'test' } });
      registry.increment('t_total', { a: 'x', b: 'y' });
      registry.increment('t_total', { a: 'x","b":"y' });
      registry.increment('t_total', { b: 'x' });
      registry.increment('t_total', { a: 'x' });
      registry.increment('t_total', { a: 'x' });
      registry.increment('t_total');
      expect(registry.render()).toBe(
        '# HELP t_total test\n# TYPE t_total counter\nt_total{a="x",b="y"} 1\nt_total{a="x\\",\\"b\\":\\"y"} 1\nt_total{b="x"} 1\nt_total{a="x"} 2\nt_total 1\n',
      );
    });

    it('escapes backslash, quote and newline in label values and help text', () => {
      const registry = createPrometheusRegistry({ t_total: { type: 'counter', help: 'a\\b\nc' } });
      registry.increment('t_total', { code: 'a"b\\c\nd' });
      const text = registry.render();
      expect(text).toContain('# HELP t_total a\\\\b\\nc\n');
      expect(text).toContain('t_total{code="a\\"b\\\\c\\nd"} 1\n');
      expect(escapeLabelValue('plain')).toBe('plain');
    });
  });

  describe('when a histogram observes values', () => {
    it('renders cumulative buckets, +Inf, sum and count', () => {
      const registry = createPrometheusRegistry({ d_seconds: { type: 'histogram', help: 'd', buckets: [0.1, 1] } });
      for (const value of [0.05, 0.1, 0.5, 3]) registry.observe('d_seconds', value);
      expect(registry.render()).toBe(
        [
          '# HELP d_seconds d',
          '# TYPE d_seconds histogram',
          'd_seconds_bucket{le="0.1"} 2',
          'd_seconds_bucket{le="1"} 3',
          'd_seconds_bucket{le="+Inf"} 4',
          'd_seconds_sum 3.65',
          'd_seconds_count 4',
          '',
        ].join('\n'),
      );
    });
  });

  describe('when a metric is misused', () => {
    it('registers an undefined name on first use', () => {
      const registry = createPrometheusRegistry({});
      registry.increment('trustgate_new_total', { result: 'hit' });
      expect(registry.render()).toContain('# TYPE trustgate_new_total counter\ntrustgate_new_total{result="hit"} 1\n');
    });

    it('rejects an invalid metric name with INTERNAL', () => {
      const registry = createPrometheusRegistry({});
      expect(() => registry.increment('trustgate-bad')).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    });

    it('rejects observing a counter with INTERNAL', () => {
      const registry = createPrometheusRegistry(ADMISSION_METRICS);
      expect(() => registry.observe(AdmissionMetric.REQUESTS, 1)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    });

    it('rejects an invalid label name with INTERNAL', () => {
      const registry = createPrometheusRegistry({ t_total: { type: 'counter', help: 't' } });
      registry.increment('t_total', { 'bad-name': 'x' });
      expect(() => registry.render()).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    });
  });
});
