-- Unique signers: setup gives each wrk thread its own id and the run's
-- start time (globals in the thread's Lua state), so two threads and two
-- runs against one database never send the same address.
local threads = {}
local counter = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
  thread:set("run", tostring(os.time()))
end

request = function()
  counter = counter + 1
  local body = "name=Load+Tester&email=w" .. run .. "-" .. id .. "-" .. counter .. "%40load.example&country=FR&public=1"
  return wrk.format("POST", "/c/safe-streets-around-our-schools/sign", {["Content-Type"]="application/x-www-form-urlencoded"}, body)
end
