/**
 * The pipeline text of the anomaly tests: one stream (`telemetry`, event time
 * `ts`, no out-of-orderness) and one anomaly rule `ErrorSpike` on the
 * per-minute 5xx count of each service. Shared by
 * test/unit/anomaly/anomalyEngine.test.ts and test/unit/tools/backtestAnomaly.test.ts.
 */
export function anomalyPipelineText(opts: { readonly anomaly: string; readonly minTotal: number; readonly summary: string }): string {
  return `streams:
  telemetry:
    timestamp: ts
    id: eventId
    outOfOrderness: 0s
rules:
  - alert: ErrorSpike
    stream: telemetry
    groupBy: [service]
    window: { tumbling: 1m }
    aggregate: { errors: 'count(status >= 500)', total: 'count()' }
    anomaly: ${opts.anomaly}
    when: 'anomaly.score > 0.99 && total >= ${opts.minTotal.toFixed(1)}'
    annotations: { summary: '${opts.summary}' }
`;
}
