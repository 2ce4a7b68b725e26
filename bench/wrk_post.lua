-- wrk script for Tanpu's benchmarks: one request at a time, each with a unique key.
-- Usage: wrk -t2 -c32 -d15s -s bench/wrk_post.lua http://127.0.0.1:PORT -- SPEC_FILE
-- SPEC_FILE (written by bench/harness.py), one item per line:
--   method POST / path /v1/... / prefix <run label> / header Name: value / unique_header Idempotency-Key
--   body <template with $USER_ID and $UNIQUE> (one or more: each request takes one at random)
--   user <uuid> (any number)
--   token <bearer token> (any number): each request is authorised by one at random
--   times <min s ago> <max s ago> <duration s>: $ENDED_AT (and $AT, the same) becomes a random UTC time
--     that many seconds ago and $STARTED_AT that time minus the duration (RFC 3339: trips, purchases)
-- The unique string is prefix-threadid-counter, so keys never repeat within or across runs.
-- done() prints one line "BENCHJSON {...}" with counts and latency percentiles in microseconds.

local next_tid = 0

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
end

local method, path, prefix, unique_header
local bodies = {}
local headers = {}
local users = {}
local tokens = {}
local t_min, t_max, t_dur
local counter = 0

function init(args)
  local spec = args[1]
  for line in io.lines(spec) do
    local k, v = line:match("^(%S+) (.*)$")
    if k == "method" then method = v
    elseif k == "path" then path = v
    elseif k == "prefix" then prefix = v
    elseif k == "unique_header" then unique_header = v
    elseif k == "body" then bodies[#bodies + 1] = v
    elseif k == "user" then users[#users + 1] = v
    elseif k == "token" then tokens[#tokens + 1] = v
    elseif k == "times" then
      local a, b, c = v:match("^(%d+) (%d+) (%d+)$")
      t_min, t_max, t_dur = tonumber(a), tonumber(b), tonumber(c)
    elseif k == "header" then
      local name, value = v:match("^([^:]+): (.*)$")
      headers[name] = value
    end
  end
  math.randomseed(os.time() + tid * 7919)
end

local function plain(s)
  return (s:gsub("%%", "%%%%"))
end

function request()
  counter = counter + 1
  local unique = prefix .. "-" .. tid .. "-" .. counter
  if unique_header then
    headers[unique_header] = unique
  end
  if #tokens > 0 then
    headers["Authorization"] = "Bearer " .. tokens[math.random(#tokens)]
  end
  local b = nil
  if #bodies > 0 then
    b = bodies[math.random(#bodies)]:gsub("%$UNIQUE", plain(unique))
    if #users > 0 then
      b = b:gsub("%$USER_ID", users[math.random(#users)])
    end
    if t_min then
      local ended = os.time() - math.random(t_min, t_max)
      b = b:gsub("%$ENDED_AT", os.date("!%Y-%m-%dT%H:%M:%SZ", ended))
      b = b:gsub("%$AT", os.date("!%Y-%m-%dT%H:%M:%SZ", ended))
      b = b:gsub("%$STARTED_AT", os.date("!%Y-%m-%dT%H:%M:%SZ", ended - t_dur))
    end
  end
  return wrk.format(method, path, headers, b)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50":%d,"p90":%d,"p95":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
