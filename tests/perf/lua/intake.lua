-- POST /v1/cases with a unique external_id per request, counting answers by status.
-- wrk ... -s intake.lua URL -- KEY RUN_PREFIX [RATE]
-- RATE (requests/s for the whole run, 0 = as fast as answers come) paces each wrk thread with
-- wrk's delay() hook on a fixed schedule (open loop while a connection is free for each slot).
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

package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local report = require("report")  -- setup, the answer counts and done(), shared
setup, done = report.setup, report.done

function init(args)
  key = args[1]
  prefix = args[2]
  local rate = tonumber(args[3] or "0")
  threads_total = tonumber(args[4] or "1")
  interval = rate > 0 and (1000.0 * threads_total / rate) or 0
  next_slot = 0
  n = 0
  report.start()
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
  -- Open loop: each request takes the thread's next slot of a fixed schedule, so a slot missed
  -- while every connection waited for an answer is sent as soon as one is free (the offered rate
  -- is the asked rate); a thread more than a second behind drops the slots it missed.
  local now = now_ms()
  if next_slot == 0 then next_slot = now end  -- the schedule starts with the thread's first request
  local slot = math.max(next_slot, now - 1000)
  next_slot = slot + interval
  return math.max(0, slot - now)
end

function response(status, headers, body)
  report.count(status, 202)
end
