-- wrk script for benches/enroll.rs: every request enrols a different student, so each one does the whole
-- transaction (checks, insert, outbox event, delivery jobs). Tokens come from the file in $TOKENS; each wrk
-- thread takes every Nth token so no two threads share a student.
local threads = {}
local counter = 1

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  local all = {}
  for line in io.lines(os.getenv("TOKENS")) do all[#all + 1] = line end
  tokens = {}
  local n = tonumber(os.getenv("THREADS"))
  for i = id, #all, n do tokens[#tokens + 1] = all[i] end
  next_token = 1
  wrk.method = "POST"
  wrk.path = os.getenv("ENROLL_PATH")
end

function request()
  local t = tokens[next_token]
  next_token = next_token + 1
  if next_token > #tokens then next_token = 1 end
  return wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. t })
end

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d non2xx=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, summary.errors.status))
end
