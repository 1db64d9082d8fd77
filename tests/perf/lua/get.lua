-- GET the same path, or /v1/cases/{id} with ids picked at random from a file, counting 200s.
-- wrk ... -s get.lua URL -- KEY PATH|@IDS_FILE
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  wrk.headers["X-API-Key"] = args[1]
  target = args[2]
  ids = {}
  if string.sub(target, 1, 1) == "@" then
    for line in io.lines(string.sub(target, 2)) do ids[#ids + 1] = line end
  end
  math.randomseed(os.time() + tid * 7919)
  ok = 0
  others = 0
  statuses = {}
end

function request()
  if #ids > 0 then
    return wrk.format("GET", "/v1/cases/" .. ids[math.random(#ids)])
  end
  return wrk.format("GET", target)
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
  else
    others = others + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
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
