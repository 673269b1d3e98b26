-- wrk script for the /query benchmark (bench/api.sh).
--
-- POSTs the chapter client's JSON body
--   {"query": Q, "max_results": 5, "threshold": 0.7, "use_guardrails": true}
-- with "Authorization: Bearer $BENCH_TOKEN", rotating over the questions in $BENCH_QUESTIONS
-- (one per line; each wrk thread starts at a different offset). The request path is the one
-- given on wrk's URL. Tunables (env): BENCH_MAX_RESULTS (5), BENCH_THRESHOLD (0.7),
-- BENCH_GUARDRAILS (true).
--
-- At the end it prints one line "WRK_JSON {...}" with requests, duration, req/s, latency
-- p50/p75/p90/p99/max in ms, socket errors and the count of non-2xx responses (counted here in
-- response(), which, unlike wrk's own "Non-2xx or 3xx" figure, also counts 3xx).
--
-- BENCH_LAT_DIR (bench/overload.sh): each thread also writes "status microseconds" per response
-- to DIR/<thread>.txt, so answered and refused requests get their own percentiles. The time is
-- from request() to response(), so it is only right with one connection per thread (-t = -c).
--
-- BENCH_RETRY_AFTER=1: after a 503, the connection waits as long as its Retry-After header
-- says before its next request, as a well-behaved client does (wrk's delay(); per thread, so
-- again with one connection per thread). Unset, a refused client asks again at once.

local token = os.getenv("BENCH_TOKEN") or ""
local qfile = os.getenv("BENCH_QUESTIONS") or "bench/api/questions.txt"
local max_results = tonumber(os.getenv("BENCH_MAX_RESULTS") or "5")
local threshold = tonumber(os.getenv("BENCH_THRESHOLD") or "0.7")
local guardrails = os.getenv("BENCH_GUARDRAILS") or "true"
local lat_dir = os.getenv("BENCH_LAT_DIR")
local retry_after = os.getenv("BENCH_RETRY_AFTER") == "1"
local wait_ms = 0

local now_us = nil
if lat_dir then
   local ffi = require("ffi")
   ffi.cdef[[
      typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
      int clock_gettime(int clk_id, bench_timespec *tp);
   ]]
   local ts = ffi.new("bench_timespec")
   now_us = function()
      ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
      return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
   end
end
local lat_file = nil
local sent_at = nil

local threads = {}
local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

local function json_string(s)
   s = s:gsub('[%c"\\]', function(c)
      if c == '"' then return '\\"' end
      if c == "\\" then return "\\\\" end
      return string.format("\\u%04x", c:byte())
   end)
   return '"' .. s .. '"'
end

local requests = {}
local idx = 1
non2xx = 0
responses = 0

function init(args)
   local headers = {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. token,
   }
   local f = assert(io.open(qfile, "r"), "cannot open questions file " .. qfile)
   for line in f:lines() do
      line = line:gsub("^%s+", ""):gsub("%s+$", "")
      if #line > 0 then
         local body = string.format('{"query": %s, "max_results": %d, "threshold": %s, "use_guardrails": %s}',
            json_string(line), max_results, tostring(threshold), guardrails)
         table.insert(requests, wrk.format("POST", nil, headers, body))
      end
   end
   f:close()
   assert(#requests > 0, "no questions in " .. qfile)
   -- spread the threads over the question list
   idx = ((id or 0) * 97) % #requests + 1
   if lat_dir then
      lat_file = assert(io.open(lat_dir .. "/" .. tostring(id or 0) .. ".txt", "w"))
      lat_file:setvbuf("line")
   end
end

function request()
   local r = requests[idx]
   idx = idx % #requests + 1
   if now_us then sent_at = now_us() end
   return r
end

if retry_after then
   function delay()
      local ms = wait_ms
      wait_ms = 0
      return ms
   end
end

function response(status, headers, body)
   if lat_file and sent_at then
      lat_file:write(string.format("%d %.0f\n", status, now_us() - sent_at))
   end
   responses = responses + 1
   if retry_after and status == 503 then
      wait_ms = (tonumber(headers["Retry-After"] or headers["retry-after"] or "1") or 1) * 1000
   end
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
   end
end

function done(summary, latency, requests)
   local bad, seen = 0, 0
   for _, t in ipairs(threads) do
      bad = bad + (t:get("non2xx") or 0)
      seen = seen + (t:get("responses") or 0)
   end
   local secs = summary.duration / 1e6
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests": %d, "responses": %d, "duration_s": %.3f, "rps": %.2f, ' ..
      '"p50_ms": %.3f, "p75_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "mean_ms": %.3f, ' ..
      '"non2xx": %d, "wrk_status_errors": %d, "connect_errors": %d, "read_errors": %d, ' ..
      '"write_errors": %d, "timeouts": %d}\n',
      summary.requests, seen, secs, summary.requests / secs,
      latency:percentile(50) / 1000, latency:percentile(75) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000,
      bad, e.status, e.connect, e.read, e.write, e.timeout))
end
