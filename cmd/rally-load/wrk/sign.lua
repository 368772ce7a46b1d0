-- Unique signers: setup gives each wrk thread its own id and the run's
-- start time (globals in the thread's Lua state), so two threads and two
-- runs against one database never send the same address.
--
-- Real signers' addresses arrive in no order, so these must not either: an
-- address starts with the signer number's digits reversed, which scatters
-- consecutive signers over the whole range of addresses, as real ones are.
--
-- The request is the one wrk.format would build (request line, Host,
-- Content-Type, Content-Length, body), put together around the only part
-- that changes: wrk shares the two cores with Rally, and this takes it
-- about 1.5 µs less a request.
local threads = {}
local counter = 0
local head, tail

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
  thread:set("run", tostring(os.time()))
end

function init(args)
  head = "POST /c/safe-streets-around-our-schools/sign HTTP/1.1\r\nHost: " .. wrk.headers["Host"] ..
    "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: "
  tail = "-" .. id .. "-" .. run .. "%40load.example&country=FR&public=1"
end

request = function()
  counter = counter + 1
  local body = "name=Load+Tester&email=" .. string.reverse(tostring(counter)) .. tail
  return head .. #body .. "\r\n\r\n" .. body
end
