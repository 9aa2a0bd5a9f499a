-- wrk script: POST a ~300-byte event; prints "p99_ms=<n>" for bench/run.sh.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"type":"page.viewed","occurred_at":"2024-05-01T12:00:00Z",' ..
           '"user":{"id":"u-123456","plan":"pro","country":"FR"},' ..
           '"page":"/pricing/enterprise","referrer":"https://example.com/blog/post-about-things",' ..
           '"session":"5f1c2a9e-7d7b-4d5e-9a8f-1b2c3d4e5f60","tags":["a","b","c"],"n":12345}'

done = function(summary, latency, requests)
  io.write(string.format("p99_ms=%.3f\n", latency:percentile(99) / 1000))
  io.write(string.format("errors=%d\n", summary.errors.status + summary.errors.connect +
                         summary.errors.read + summary.errors.write + summary.errors.timeout))
end
