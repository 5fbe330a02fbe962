-- wrk script: DO array joins from a fleet of FLEET_PEERS peers (default 20,000), each in the swarm
-- of one of FLEET_CONTENTS contents (default 1,000; peer p reads content p mod CONTENTS, so swarms
-- hold 20 members). Each request is a random peer's (re-)join, with its own peer id and address,
-- sent as if forwarded by the trusted proxy (X-Real-IP), so the control plane sees 20,000 distinct
-- addresses and its per-address limits apply as in production.
local peers = tonumber(os.getenv("FLEET_PEERS") or "20000")
local contents = tonumber(os.getenv("FLEET_CONTENTS") or "1000")
local counter = 0

function init(args)
    -- Each wrk thread its own sequence (the address of a fresh table differs per thread).
    math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
end

request = function()
    counter = counter + 1
    local p = math.random(0, peers - 1)
    local c = p % contents
    local ip = string.format("10.%d.%d.%d", math.floor(p / 65536) % 256, math.floor(p / 256) % 256, p % 256)
    local body = string.format(
        '{"ContentId":"bench-%d","PeerId":"%040x","Port":"7680","Scope":"3","PeersWanted":"50",' ..
        '"Uploaded":"0","Downloaded":"0","Left":"0","JoinRequestEvent":"0","Seq":"%d"}', c, p + 1, counter)
    return wrk.format("POST", "/array/bench-" .. c .. "/join/",
                      {["Content-Type"] = "application/json", ["X-Real-IP"] = ip}, body)
end
