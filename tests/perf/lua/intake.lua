-- POST /v1/cases with a unique external_id per request, counting answers by status.
-- wrk ... -s intake.lua URL -- KEY RUN_PREFIX [RATE]
-- RATE (requests/s for the whole run, 0 = as fast as answers come) paces each wrk thread with
-- wrk's delay() hook: below the rate it is open-ended pacing, above it a closed loop.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_usec; } timeval;
  int gettimeofday(timeval *tv, void *tz);
]]
local tv = ffi.new("timeval")
local function now_ms()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000 + tonumber(tv.tv_usec) / 1000
end

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
  table.insert(threads, thread)
end

function init(args)
  key = args[1]
  prefix = args[2]
  local rate = tonumber(args[3] or "0")
  threads_total = tonumber(args[4] or "1")
  interval = rate > 0 and (1000.0 * threads_total / rate) or 0
  next_slot = 0
  n = 0
  accepted = 0
  others = 0
  statuses = {}
  wrk.method = "POST"
  wrk.path = "/v1/cases"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-API-Key"] = key
end

function request()
  n = n + 1
  local body = string.format(
    '{"external_id":"%s-%d-%d","content":{"text":"You are a worthless idiot and everybody hates you, shut up you moron #%d","author_id":"bench-%d"}}',
    prefix, tid, n, n, n % 997)
  return wrk.format(nil, nil, nil, body)
end

function delay()
  if interval <= 0 then return 0 end
  -- each request takes the thread's next free slot; a thread that fell behind does not burst
  local now = now_ms()
  local slot = math.max(next_slot, now)
  next_slot = slot + interval
  return slot - now
end

function response(status, headers, body)
  if status == 202 then
    accepted = accepted + 1
  else
    others = others + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local ok, bad = 0, 0
  local codes, totals = {}, {}
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("accepted")
    bad = bad + thread:get("others")
    for code, c in pairs(thread:get("statuses")) do totals[code] = (totals[code] or 0) + c end
  end
  for code, c in pairs(totals) do codes[#codes + 1] = string.format('"%d":%d', code, c) end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us":%d,"requests":%d,"ok":%d,"other":%d,"codes":{%s},' ..
    '"socket_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.duration, summary.requests, ok, bad, table.concat(codes, ","),
    e.connect + e.read + e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
