-- Loaded by wrk (-s): prints one machine-readable line with the counts and latency percentiles.
-- Latencies are in microseconds; errors add up connect, read, write, timeout and non-2xx/3xx.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT {\"requests\": %d, \"duration_us\": %.0f, \"errors\": %d, \"status_errors\": %d, " ..
    "\"p50_us\": %.0f, \"p99_us\": %.0f, \"mean_us\": %.0f, \"max_us\": %.0f}\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout + e.status, e.status,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
