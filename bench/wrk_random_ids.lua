-- wrk script for the serving benchmark: every request is GET PREFIX .. <an id drawn at random>.
--
--   wrk -t2 -c16 -d10s --latency -s bench/wrk_random_ids.lua http://127.0.0.1:8000 -- PREFIX [IDS_FILE [METHOD]]
--
-- METHOD (default GET) is e.g. POST for the events service's /put.
-- IDS_FILE holds one id per line (the caller decides the mix, e.g. 90% known users, 10% unknown);
-- without it every request asks PREFIX as it is. Drawing in Lua inside wrk keeps the client in C
-- (LuaJIT), so it does not steal the CPU it is measuring. At the end one line starting with
-- WRK_JSON gives the counts and latency percentiles (microseconds) for the Python side to parse.

local threads = 0

function setup(thread)
   threads = threads + 1
   thread:set("seed", threads)  -- a different random sequence per wrk thread
end

local prefix
local method
local ids = {}

function init(args)
   prefix = args[1]
   method = args[3] or "GET"
   if args[2] then
      for line in io.lines(args[2]) do
         ids[#ids + 1] = line
      end
   end
   math.randomseed(1000003 * seed)
end

function request()
   if #ids == 0 then
      return wrk.format(method, prefix)
   end
   return wrk.format(method, prefix .. ids[math.random(#ids)])
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests": %d, "duration_us": %d, "non_2xx": %d, "connect": %d, "read": %d, '
         .. '"write": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
      summary.requests, summary.duration, errors.status, errors.connect, errors.read, errors.write,
      errors.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
