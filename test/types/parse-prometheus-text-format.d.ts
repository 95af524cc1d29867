// The package ships no types; only what the tests read (prom2json's shape: values stay strings).
declare module 'parse-prometheus-text-format' {
  interface PrometheusSample {
    /** Absent for histograms and summaries, which carry buckets/quantiles, count and sum instead. */
    value?: string;
    labels?: Record<string, string>;
  }
  interface PrometheusFamily {
    name: string;
    help: string;
    /** Upper case as the parser reports it: COUNTER, GAUGE, UNTYPED, HISTOGRAM, SUMMARY. */
    type: string;
    metrics: PrometheusSample[];
  }
  export default function parsePrometheusTextFormat(text: string): PrometheusFamily[];
}
