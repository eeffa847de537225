-- wrk script for POST /v1/verify: each thread sends the bodies of its own file (from
-- `otptoken-dev load-prepare`), in order, and counts accepted and refused answers. A thread starts
-- where the last run on that file stopped (FOLDER/position-N), so a warm-up run does not use up
-- the codes of the measured one.
-- Usage: wrk -t T -c C -d 10s -s scripts/wrk-verify.lua URL -- FOLDER [THREAD_OFFSET]
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  folder = args[1]
  file_number = id + tonumber(args[2] or "0")
  bodies = {}
  for line in io.lines(folder .. "/bodies-" .. file_number .. ".txt") do
    bodies[#bodies + 1] = line
  end
  position = 0
  local last = io.open(folder .. "/position-" .. file_number)
  if last then
    position = tonumber(last:read("*a")) or 0
    last:close()
  end
  local file = io.open(folder .. "/key")
  local key = file:read("*a")
  file:close()
  accepted = 0
  refused = 0
  wrapped = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. key
end

function request()
  position = position + 1
  if position > #bodies then
    position = 1
    wrapped = 1
  end
  return wrk.format(nil, "/v1/verify", nil, bodies[position])
end

function response(status, headers, body)
  if status == 200 and string.find(body, '"result":"accepted"', 1, true) then
    accepted = accepted + 1
  else
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local a, r, w = 0, 0, 0
  for _, thread in ipairs(threads) do
    a = a + thread:get("accepted")
    r = r + thread:get("refused")
    w = w + thread:get("wrapped")
    local last = io.open(thread:get("folder") .. "/position-" .. thread:get("file_number"), "w")
    last:write(tostring(thread:get("position")))
    last:close()
  end
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"requests": %d, "seconds": %.2f, "requests_per_s": %.0f, "accepted": %d, "refused": %d, ' ..
    '"errors": %d, "wrapped": %d, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, seconds, summary.requests / seconds, a, r,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status +
    summary.errors.timeout, w,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
