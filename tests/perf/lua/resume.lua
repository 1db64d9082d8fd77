-- POST /v1/cases/{id}/resume once for each id of a file, the ids shared out among wrk's threads;
-- a thread stops once every one of its ids is answered. Counts answers by status.
-- wrk ... -s resume.lua URL -- KEY IDS_FILE DECISION THREADS
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local report = require("report")  -- setup, the answer counts and done(), shared
setup, done = report.setup, report.done

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
  report.start()
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
  report.count(status, 202)
  if answered >= #ids then wrk.thread:stop() end
end
