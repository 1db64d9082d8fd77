-- POST /v1/cases/{id}/resume once for each id of a file, the ids shared out among wrk's threads;
-- a thread stops once every one of its ids is answered. Counts answers by status.
-- wrk ... -s resume.lua URL -- KEY IDS_FILE DECISION THREADS
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  wrk.headers["X-API-Key"] = args[1]
  wrk.headers["Content-Type"] = "application/json"
  body = '{"decision":"' .. args[3] .. '"}'
  local count, n = tonumber(args[4]), 0
  ids = {}
  for line in io.lines(args[2]) do
    if n % count == tid - 1 then ids[#ids + 1] = line end
    n = n + 1
  end
  next_id, answered = 1, 0
  ok, others, statuses = 0, 0, {}
end

function request()
  if tid == 1 and not verified then
    -- wrk calls the first thread's request() once before any connection, to check the script's
    -- requests (script_verify_request): that call must not use up an id.
    verified = true
    return wrk.format("GET", "/healthz")
  end
  if next_id > #ids then
    return wrk.format("GET", "/healthz")  -- this thread's ids are all sent: something harmless until they are answered
  end
  local id = ids[next_id]
  next_id = next_id + 1
  return wrk.format("POST", "/v1/cases/" .. id .. "/resume", nil, body)
end

function response(status, headers, body)
  if status == 200 then return end  -- a /healthz answer (a resume is never 200)
  answered = answered + 1
  if status == 202 then ok = ok + 1 else
    others = others + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
  if answered >= #ids then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local good, bad = 0, 0
  local codes, totals = {}, {}
  for _, thread in ipairs(threads) do
    good = good + thread:get("ok")
    bad = bad + thread:get("others")
    for code, c in pairs(thread:get("statuses")) do totals[code] = (totals[code] or 0) + c end
  end
  for code, c in pairs(totals) do codes[#codes + 1] = string.format('"%d":%d', code, c) end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us":%d,"requests":%d,"ok":%d,"other":%d,"codes":{%s},' ..
    '"socket_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.duration, summary.requests, good, bad, table.concat(codes, ","), e.connect + e.read + e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
