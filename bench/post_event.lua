-- wrk script for bench/run.sh: every request POSTs the same ~300-byte JSON
-- event (no "id" field, so each accepted write gets a fresh Sluice id).
--   BENCH_AUTHORIZATION="Bearer $KEY" wrk -t2 -c64 -d10s -s bench/post_event.lua http://127.0.0.1:8080/v1/events
-- From the environment (rather than wrk -H, so a credential stays out of ps):
--   BENCH_AUTHORIZATION  when set and not empty, the Authorization header of
--                        every request (an API key or a JWT, "Bearer <credential>")
--   BENCH_KEYED=1        a fresh Idempotency-Key on every request, as a webhook
--                        sender sends (webhook-id): a random per-thread prefix
--                        from /dev/urandom and a counter, unique across threads,
--                        connections and runs
-- done() prints one parseable line:
--   BENCH rps=<req/s> p50_ms=<n> p90_ms=<n> p99_ms=<n> max_ms=<n> requests=<n> non2xx=<n> socket_errors=<n>
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization and authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end
-- The body is bench/event.json (beside this script; bench/fixed_load.py sends
-- it too), read once, its final newline dropped.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local event = assert(io.open(here .. "event.json", "rb"))
wrk.body = event:read("*a"):gsub("\n$", "")
event:close()

-- Only defined when asked for: without a request() function wrk sends one
-- request built once, the cheapest load it can make.
if os.getenv("BENCH_KEYED") == "1" then
  local f = assert(io.open("/dev/urandom", "rb"))
  local prefix = "bench-" .. f:read(8):gsub(".", function(c) return string.format("%02x", c:byte()) end) .. "-"
  f:close()
  local counter = 0
  request = function()
    counter = counter + 1
    wrk.headers["Idempotency-Key"] = prefix .. counter
    return wrk.format()
  end
end

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
