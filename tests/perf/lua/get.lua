-- GET the same path, or /v1/cases/{id} with ids picked at random from a file, counting 200s.
-- wrk ... -s get.lua URL -- KEY PATH|@IDS_FILE
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local report = require("report")  -- setup, the answer counts and done(), shared
setup, done = report.setup, report.done

function init(args)
  wrk.headers["X-API-Key"] = args[1]
  target = args[2]
  ids = {}
  if string.sub(target, 1, 1) == "@" then
    for line in io.lines(string.sub(target, 2)) do ids[#ids + 1] = line end
  end
  math.randomseed(os.time() + tid * 7919)
  report.start()
end

function request()
  if #ids > 0 then
    return wrk.format("GET", "/v1/cases/" .. ids[math.random(#ids)])
  end
  return wrk.format("GET", target)
end

function response(status, headers, body)
  report.count(status, 200)
end
