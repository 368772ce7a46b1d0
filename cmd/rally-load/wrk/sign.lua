-- Unique signers: setup gives each wrk thread its own id and the run's
-- start time (globals in the thread's Lua state), so two threads and two
-- runs against one database never send the same address.
--
-- Real signers' addresses arrive in no order, so these must not either: an
-- address starts with the signer number's digits reversed, which scatters
-- consecutive signers over the whole range of addresses, as real ones are.
local threads = {}
local counter = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
  thread:set("run", tostring(os.time()))
end

request = function()
  counter = counter + 1
  local body = "name=Load+Tester&email=" .. string.reverse(tostring(counter)) .. "-" .. id .. "-" .. run ..
    "%40load.example&country=FR&public=1"
  return wrk.format("POST", "/c/safe-streets-around-our-schools/sign", {["Content-Type"]="application/x-www-form-urlencoded"}, body)
end
