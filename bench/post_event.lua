-- wrk script for bench/run.sh: every request POSTs the same ~300-byte JSON
-- event (no "id" field, so each accepted write gets a fresh Sluice id).
--   BENCH_AUTHORIZATION="Bearer $KEY" wrk -t2 -c64 -d10s -s bench/post_event.lua http://127.0.0.1:8080/v1/events
-- BENCH_AUTHORIZATION, when set and not empty, is sent as the Authorization
-- header of every request (an API key or a JWT, as "Bearer <credential>");
-- from the environment rather than wrk -H so the credential stays out of ps.
-- done() prints one parseable line:
--   BENCH rps=<req/s> p50_ms=<n> p90_ms=<n> p99_ms=<n> max_ms=<n> requests=<n> non2xx=<n> socket_errors=<n>
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization and authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end
wrk.body = '{"type":"page.viewed","occurred_at":"2026-11-22T10:00:00Z",' ..
           '"user":{"id":"u-123456","plan":"pro","country":"FR"},' ..
           '"page":"/pricing/enterprise","referrer":"https://example.com/blog/post-about-things",' ..
           '"session":"5f1c2a9e-7d7b-4d5e-9a8f-1b2c3d4e5f60","tags":["alpha","beta","gamma"],' ..
           '"n":12345,"source":"web"}'

done = function(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "BENCH rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f requests=%d non2xx=%d socket_errors=%d\n",
    summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
