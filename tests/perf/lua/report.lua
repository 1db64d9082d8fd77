-- What get.lua, intake.lua and resume.lua share: numbering wrk's threads, counting answers by
-- status, and the one BENCH_JSON line tests/perf/load.py reads. Loaded by each script with
--   package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
--   local report = require("report")
-- (wrk runs a script in its main Lua state and once per thread: each of them loads this too.)
local report = {}
local threads = {}

-- wrk's setup(): each thread gets its number, `tid` (1, 2, …), and is kept for done().
function report.setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

-- From a thread's init(): its counters, read back by done() through thread:get.
function report.start()
  ok, others, statuses = 0, 0, {}
end

-- From a thread's response(): `status == expected` is a success, anything else is counted by code.
function report.count(status, expected)
  if status == expected then
    ok = ok + 1
  else
    others = others + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
end

-- wrk's done(): every thread's counts and wrk's own figures, as one JSON line.
function report.done(summary, latency, requests)
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

return report
