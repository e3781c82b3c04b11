-- Scenario (b) of benches/http-load.sh: every 10th request is the next pre-signed flagged
-- request from $FLAGGED_FILE (written by sign-verdicts: "<target> TAB <verdict>" per
-- line), each used once; the other nine are clean GETs with unique queries.
--
-- The file is read a line at a time as flagged requests are due, not loaded up front: a
-- Lua heap holding hundreds of thousands of requests makes the garbage collector pause
-- wrk for tens of milliseconds, which wrk would report as server latency.
--
-- With several wrk threads, thread k of $WRK_THREADS takes lines k, k + T, k + 2T, ...
-- so no line is sent twice. done() prints how many flagged requests were sent and how
-- many were due after the file ran out (sent as clean ones instead).

local flagged_file = os.getenv("FLAGGED_FILE")
local thread_count = tonumber(os.getenv("WRK_THREADS") or "1")
local threads = {}

function setup(thread)
   thread:set("thread_id", #threads)
   table.insert(threads, thread)
end

function init(args)
   if flagged_file == nil then
      error("FLAGGED_FILE is not set")
   end
   flagged = assert(io.open(flagged_file, "r"))
   for _ = 1, thread_id do
      flagged:read("*l")
   end
   counter = 0
   flagged_sent = 0
   flagged_missing = 0
end

-- The next flagged request of this thread, or nil once the file is used up.
local function next_flagged()
   local line = flagged:read("*l")
   if line == nil then
      return nil
   end
   for _ = 2, thread_count do
      flagged:read("*l")
   end
   local target, verdict = line:match("^([^\t]+)\t(.+)$")
   if target == nil then
      error(flagged_file .. ": malformed line")
   end
   return wrk.format("GET", target, { ["Tracehound-Verdict"] = verdict })
end

function request()
   counter = counter + 1
   if counter % 10 == 0 then
      local next_request = next_flagged()
      if next_request ~= nil then
         flagged_sent = flagged_sent + 1
         return next_request
      end
      flagged_missing = flagged_missing + 1
   end
   return wrk.format("GET", "/search?q=boots-" .. thread_id .. "-" .. counter)
end

function done(summary, latency, requests)
   local sent, missing = 0, 0
   for _, thread in ipairs(threads) do
      sent = sent + thread:get("flagged_sent")
      missing = missing + thread:get("flagged_missing")
   end
   io.write(string.format("flagged-sent: %d\nflagged-missing: %d\n", sent, missing))
end
