-- wrk script: POST Call Automation events with unique ids.
-- Environment: BENCH_PATH (default /api/callbacks), BENCH_BATCH (events per request, default 1),
-- BENCH_CALLS (distinct call ids, default 64), BENCH_RUN (prefix of every event id, default
-- none: give each wrk run its own, or a second run posts the first one's ids again as duplicates).
local path = os.getenv("BENCH_PATH") or "/api/callbacks"
local batch = tonumber(os.getenv("BENCH_BATCH") or "1")
local calls = tonumber(os.getenv("BENCH_CALLS") or "64")
local run = os.getenv("BENCH_RUN") or ""
local threads = {}
local counter = 0
thread_id = 0

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

local padding = string.rep("x", 900)

local function event(n)
  local call = string.format("c0ffee00-0000-4000-8000-%012d", n % calls)
  return string.format(
    '{"id":"%s%d-%d","source":"calling/callConnections/%s","type":"Microsoft.Communication.PlayCompleted",' ..
    '"specversion":"1.0","datacontenttype":"application/json","time":"2024-03-01T12:00:00.123456+00:00",' ..
    '"subject":"calling/callConnections/%s","data":{"callConnectionId":"%s","serverCallId":"aHR0cHM6Ly9hcGk",' ..
    '"correlationId":"b1c0e6a2-1111-4222-8333-444455556666","operationContext":"bench",' ..
    '"resultInformation":{"code":200,"subCode":0,"message":"Action completed successfully. %s"}}}',
    run, thread_id, n, call, call, call, padding)
end

local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if delay_ms > 0 then
  delay = function() return delay_ms end
end

request = function()
  local parts = {}
  for _ = 1, batch do
    counter = counter + 1
    table.insert(parts, event(counter))
  end
  local body = "[" .. table.concat(parts, ",") .. "]"
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end

done = function(summary, latency, requests)
  io.write(string.format("BENCH_JSON {\"requests\":%d,\"seconds\":%.3f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"errors\":%d}\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
