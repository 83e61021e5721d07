import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { BYTES_METRICS, METRICS_NAMESPACE, type MetricName, SECONDS_METRICS } from './contract.js';

/** Structured JSON logs (Powertools); job ids go in every line through the payload. */
export function createLogger(serviceName: string, level = process.env.LOG_LEVEL ?? 'INFO'): Logger {
  return new Logger({ serviceName, logLevel: level as 'INFO' });
}

/** What the pipeline measures (counts, seconds for SECONDS_METRICS, bytes for BYTES_METRICS); in Lambda, CloudWatch EMF metrics. */
export interface MetricsSink {
  count(name: MetricName, n?: number): void;
}

/** EMF metrics through Powertools; the `logMetrics` middleware of each function flushes them. */
export function emfMetrics(serviceName: string): MetricsSink & { powertools: Metrics } {
  const m = new Metrics({ namespace: METRICS_NAMESPACE, serviceName });
  m.setThrowOnEmptyMetrics(false);
  return {
    powertools: m,
    count(name, n = 1) {
      const unit = SECONDS_METRICS.has(name)
        ? MetricUnit.Seconds
        : BYTES_METRICS.has(name)
          ? MetricUnit.Bytes
          : MetricUnit.Count;
      m.addMetric(name, unit, n);
    },
  };
}

/** Keeps counts in memory (local stack, tests, benchmarks). */
export function memoryMetrics(): MetricsSink & { counts: Record<string, number> } {
  const counts: Record<string, number> = {};
  return {
    counts,
    count(name, n = 1) {
      counts[name] = (counts[name] ?? 0) + n;
    },
  };
}

/** A job error as it goes into logs, records and API answers: code and message, never a stack. */
export function describeError(e: unknown): { code: string; message: string } {
  const err = e as { code?: unknown; name?: unknown; message?: unknown };
  const code =
    typeof err?.code === 'string' && /^[A-Za-z0-9_ .-]{1,64}$/.test(err.code)
      ? err.code
      : typeof err?.name === 'string' && err.name !== 'Error'
        ? err.name
        : 'INTERNAL_ERROR';
  const message = typeof err?.message === 'string' ? err.message.slice(0, 500) : String(e).slice(0, 500);
  return { code, message };
}
