-- Raise a key's fencing counter to at least the given token (Redlock: the
-- nodes of a quorum then all count on from the largest token handed out,
-- and every later quorum, which shares a node with this one, hands out a
-- larger one).
-- KEYS: 1 the counter. ARGV: 1 the token.
-- Returns 1.
local token = tonumber(ARGV[1])
if (tonumber(redis.call('GET', KEYS[1])) or 0) < token then
    redis.call('SET', KEYS[1], ARGV[1])
end
return 1
