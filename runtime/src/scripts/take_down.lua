-- The admin API's release: free a lock if it still has the holder the
-- operator saw (whoever holds it; a holder that changed since is left
-- alone) and, for a cooldown (whose value every cooldown shares), the
-- same deadline; then wake a waiter.
-- KEYS: 1 the lock, 2 its waiters' marker, 3 its wake-up signal list.
-- ARGV: 1 the lock's value as read, 2 its deadline as read (inspect.lua).
-- Returns 1 when freed, 0 when it had changed.
-- A holder's token is its 16 bytes, whether a waiter flagged it ('+') or
-- not: one may have arrived since the read.
local function holder(value)
    if value and #value == 17 and string.sub(value, 17) == '+' then
        return string.sub(value, 1, 16)
    end
    return value
end
if holder(redis.call('GET', KEYS[1])) ~= holder(ARGV[1]) then
    return 0
end
if ARGV[1] == 'cooldown' then
    local now = redis.call('TIME')
    local deadline = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
        + redis.call('PTTL', KEYS[1])
    -- Read twice from one clock, a millisecond apart at most.
    if math.abs(deadline - tonumber(ARGV[2])) > 2 then
        return 0
    end
end
redis.call('DEL', KEYS[1])
wake(KEYS[2], KEYS[3])
return 1
