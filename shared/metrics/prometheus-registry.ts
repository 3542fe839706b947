// The Metrics port kept in memory and rendered in the Prometheus text exposition format
// 0.0.4: `# HELP` / `# TYPE` lines, then one sample per label set. Counters, histograms, and
// gauges (a family defined as a gauge takes increments of either sign). Label values come partly from requests (error
// codes, outcomes), so they are escaped, never trusted to be well formed.
import { ErrorCode, TrustgateError } from '../errors.js';
import type { MetricLabels, Metrics } from '../ports.js';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface MetricDefinition {
  readonly type: 'counter' | 'histogram' | 'gauge';
  readonly help: string;
  // Histograms only: upper bounds, ascending; `+Inf` is implicit.
  readonly buckets?: readonly number[];
}

export interface PrometheusRegistry extends Metrics {
  render(): string;
}

// Seconds, from 5 ms to 10 s: spans a warm-cache answer and the webhook timeout.
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

// The labels of a series without any; never written to (addSeries copies labels).
const NO_LABELS: MetricLabels = Object.freeze({});

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

interface CounterSeries {
  readonly labels: MetricLabels;
  value: number;
}

interface HistogramSeries {
  readonly labels: MetricLabels;
  // Count per bucket (not cumulative); the last slot is +Inf.
  readonly counts: number[];
  sum: number;
  count: number;
}

interface Family {
  readonly name: string;
  readonly definition: MetricDefinition;
  readonly buckets: readonly number[];
  readonly series: Map<string, CounterSeries | HistogramSeries>;
  // Series with exactly one label, also found by label name then value: the shape of
  // nearly every update, looked up without building a key.
  readonly byLabel: Map<string, Map<string, CounterSeries | HistogramSeries>>;
}

// Metrics are defined up front (name, type, help, buckets) so they render from the start.
export function createPrometheusRegistry(definitions: Readonly<Record<string, MetricDefinition>>): PrometheusRegistry {
  const families = new Map<string, Family>();
  for (const [name, definition] of Object.entries(definitions)) {
    if (!NAME_RE.test(name)) throw new TrustgateError(ErrorCode.INTERNAL, `invalid metric name ${JSON.stringify(name)}`);
    const buckets = definition.type === 'histogram' ? [...(definition.buckets ?? DEFAULT_BUCKETS)] : [];
    if (buckets.some((bound, i) => i > 0 && bound <= (buckets[i - 1] ?? -Infinity))) {
      throw new TrustgateError(ErrorCode.INTERNAL, `buckets of ${name} must ascend`);
    }
    families.set(name, { name, definition, buckets, series: new Map(), byLabel: new Map() });
  }

  // A name recorded without a definition is registered on first use with the type of that
  // use, so a component adding a metric never breaks the request that records it; using
  // one name as two types is a programming error.
  const family = (name: string, type: MetricDefinition['type']): Family => {
    let found = families.get(name);
    if (found === undefined) {
      if (!NAME_RE.test(name)) throw new TrustgateError(ErrorCode.INTERNAL, `invalid metric name ${JSON.stringify(name)}`);
      found = { name, definition: { type, help: `trustgate ${type} ${name}` }, buckets: type === 'histogram' ? DEFAULT_BUCKETS : [], series: new Map(), byLabel: new Map() };
      families.set(name, found);
    }
    if (found.definition.type !== type && !(found.definition.type === 'gauge' && type === 'counter')) {
      throw new TrustgateError(ErrorCode.INTERNAL, `metric ${name}: expected a ${found.definition.type}, got a ${type} use`);
    }
    return found;
  };

  return {
    increment(name, labels = NO_LABELS, value = 1) {
      const target = family(name, 'counter');
      const series = (findSeries(target, labels) as CounterSeries | undefined) ?? addSeries(target, labels, { labels: { ...labels }, value: 0 });
      series.value += value;
    },
    observe(name, value, labels = NO_LABELS) {
      const target = family(name, 'histogram');
      const series =
        (findSeries(target, labels) as HistogramSeries | undefined) ??
        addSeries(target, labels, { labels: { ...labels }, counts: new Array<number>(target.buckets.length + 1).fill(0), sum: 0, count: 0 });
      let index = 0;
      while (index < target.buckets.length && !(value <= (target.buckets[index] ?? Infinity))) index += 1;
      series.counts[index] = (series.counts[index] ?? 0) + 1;
      series.sum += value;
      series.count += 1;
    },
    render() {
      return [...families.values()].map(renderFamily).join('');
    },
  };
}

function renderFamily(family: Family): string {
  const lines = [`# HELP ${family.name} ${escapeHelp(family.definition.help)}`, `# TYPE ${family.name} ${family.definition.type}`];
  const series = [...family.series.values()];
  if (family.definition.type !== 'histogram') {
    // An unlabelled counter exists from the start, so rate() sees its first increment.
    if (series.length === 0) lines.push(`${family.name} 0`);
    for (const { labels, value } of series as CounterSeries[]) lines.push(`${family.name}${formatLabels(labels)} ${formatValue(value)}`);
  } else {
    for (const one of series as HistogramSeries[]) {
      let cumulative = 0;
      family.buckets.forEach((bound, index) => {
        cumulative += one.counts[index] ?? 0;
        lines.push(`${family.name}_bucket${formatLabels({ ...one.labels, le: formatValue(bound) })} ${cumulative}`);
      });
      lines.push(`${family.name}_bucket${formatLabels({ ...one.labels, le: '+Inf' })} ${one.count}`);
      lines.push(`${family.name}_sum${formatLabels(one.labels)} ${formatValue(one.sum)}`);
      lines.push(`${family.name}_count${formatLabels(one.labels)} ${one.count}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

// Series without labels, or with one, are found without building a key: the shape of
// nearly every update (each admission request makes several).
function findSeries(target: Family, labels: MetricLabels): CounterSeries | HistogramSeries | undefined {
  let only: string | undefined;
  for (const name in labels) {
    if (only !== undefined) return target.series.get(seriesKey(labels));
    only = name;
  }
  return only === undefined ? target.series.get('') : target.byLabel.get(only)?.get(labels[only] ?? '');
}

function addSeries<T extends CounterSeries | HistogramSeries>(target: Family, labels: MetricLabels, series: T): T {
  target.series.set(seriesKey(labels), series);
  const only = onlyLabel(labels);
  if (only !== undefined) {
    let byValue = target.byLabel.get(only);
    if (byValue === undefined) {
      byValue = new Map();
      target.byLabel.set(only, byValue);
    }
    byValue.set(labels[only] ?? '', series);
  }
  return series;
}

// The name of the only label, or undefined when there are none or several.
function onlyLabel(labels: MetricLabels): string | undefined {
  let only: string | undefined;
  for (const name in labels) {
    if (only !== undefined) return undefined;
    only = name;
  }
  return only;
}

// The series' identity: its labels in name order, each name and value JSON-quoted so no
// value can spell another label set.
function seriesKey(labels: MetricLabels): string {
  return Object.keys(labels)
    .sort()
    .map((name) => `${JSON.stringify(name)}:${JSON.stringify(labels[name])}`)
    .join(',');
}

function formatLabels(labels: MetricLabels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  for (const [name] of entries) {
    if (!LABEL_RE.test(name) || name.startsWith('__')) throw new TrustgateError(ErrorCode.INTERNAL, `invalid label name ${JSON.stringify(name)}`);
  }
  return `{${entries.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(',')}}`;
}

// Backslash, double quote and line feed are the only escapes the format defines in label values.
export function escapeLabelValue(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}

function escapeHelp(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}
