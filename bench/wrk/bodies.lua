-- wrk script of bench/ingest_pushes.py and bench/tickets_speed.py: POST one pre-generated body per request,
-- each request a different line of a file, so each request is a different shipment (or ticket).
--
--   wrk -t2 -c16 -d15s -s bench/wrk/bodies.lua http://127.0.0.1:PORT/path -- <prefix> <content type> <pattern> \
--       [<expected status, default 200> [<bearer token>]]
--
-- Thread N (0-based, in the order wrk set the threads up) reads `<prefix>N.txt`: one URL-encoded form body a
-- line, sent in file order. When a thread has sent every line it starts again at the first (counted as a
-- wrap: the later requests resend known bodies, so the run needs more lines; the benchmark says so).
-- A response counts as bad when its status is not the expected one or its body does not match the Lua pattern <pattern>
-- (wrk itself only counts statuses above 399, and a redirect to a login page would pass as success).
-- done() prints one line `WRKJSON {...}` with the figures (latencies in microseconds) for the benchmark.

local threads = {}
local thread_count = 0

function setup(thread)
   thread:set("tid", thread_count)
   thread_count = thread_count + 1
   table.insert(threads, thread)
end

function init(args)
   local prefix, content_type = args[1], args[2]
   pattern = args[3] or ""
   expected = tonumber(args[4] or "200")
   local token = args[5]
   bodies = {}
   local path = prefix .. tid .. ".txt"
   local f = assert(io.open(path, "rb"), "cannot open " .. path)
   for line in f:lines() do
      if #line > 0 then bodies[#bodies + 1] = line end
   end
   f:close()
   assert(#bodies > 0, path .. " has no bodies")
   lines = #bodies
   headers = {["Content-Type"] = content_type}
   if token then headers["Authorization"] = "Bearer " .. token end
   sent, wraps, bad_status, bad_body, index = 0, 0, 0, 0, 0
   first_bad = ""
end

function request()
   index = index + 1
   if index > #bodies then
      index = 1
      wraps = wraps + 1
   end
   sent = sent + 1
   return wrk.format("POST", nil, headers, bodies[index])
end

function response(status, headers, body)
   if status ~= expected then
      bad_status = bad_status + 1
      if first_bad == "" then first_bad = status .. " " .. string.sub(body or "", 1, 200) end
   elseif pattern ~= "" and not string.find(body or "", pattern) then
      bad_body = bad_body + 1
      if first_bad == "" then first_bad = status .. " " .. string.sub(body or "", 1, 200) end
   end
end

local function json_string(s)
   s = string.gsub(s or "", '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end)
   return '"' .. s .. '"'
end

function done(summary, latency, requests)
   local per_thread = {}
   local bad_status_total, bad_body_total, first_bad_any = 0, 0, ""
   for _, t in ipairs(threads) do
      per_thread[#per_thread + 1] = string.format('{"tid":%d,"sent":%d,"lines":%d,"wraps":%d}',
         t:get("tid"), t:get("sent"), t:get("lines"), t:get("wraps"))
      bad_status_total = bad_status_total + t:get("bad_status")
      bad_body_total = bad_body_total + t:get("bad_body")
      if first_bad_any == "" then first_bad_any = t:get("first_bad") end
   end
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,'
         .. '"timeout":%d,"bad_status":%d,"bad_body":%d,"first_bad":%s,"p50":%d,"p90":%d,"p99":%d,'
         .. '"max":%d,"mean":%.1f,"threads":[%s]}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
      bad_status_total, bad_body_total, json_string(first_bad_any), latency:percentile(50),
      latency:percentile(90), latency:percentile(99), latency.max, latency.mean, table.concat(per_thread, ",")))
end
