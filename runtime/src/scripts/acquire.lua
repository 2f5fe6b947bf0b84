-- Take the lock if it is free; otherwise say who has it and for how long.
-- KEYS: 1 the lock, 2 its fencing counter, 3 the waiters' marker,
--       4 the wake-up signal list, 5 the stored result (all in one hash slot).
-- ARGV: 1 the owner token, 2 the lease in ms, 3 flags (1: fencing token,
--       2: replay a stored result), 4 how long this caller waits, in ms (0: no wait).
-- Returns {0, fence} when taken, also when already the caller's (fence is 0
-- unless asked for), {1, pttl}
-- while a call holds it, {2, pttl} during a cooldown, {3, payload} when a
-- stored result answers instead. A key of another type fails with WRONGTYPE.
local flags = tonumber(ARGV[3])
local wait = tonumber(ARGV[4])
if bit.band(flags, 2) ~= 0 then
    local stored = redis.call('GET', KEYS[5])
    if stored then
        -- A waiter that gets the result passes the wake-up on to the next.
        if wait > 0 then
            wake(KEYS[3], KEYS[4])
        end
        return {3, stored}
    end
end
-- A waiter that takes the lock while others still wait flags its own lock
-- (the 16-byte token and a '+'), so that its release wakes the next one.
local value = ARGV[1]
if wait > 0 and redis.call('EXISTS', KEYS[3]) == 1 then
    value = ARGV[1] .. '+'
end
local taken = redis.call('SET', KEYS[1], value, 'NX', 'PX', ARGV[2])
local held = false
if not taken then
    held = redis.call('GET', KEYS[1])
    -- The same request sent again after its answer was lost (a cluster
    -- client resends one on a new connection) finds the key its own.
    if held == ARGV[1] or held == ARGV[1] .. '+' then
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        taken = true
    end
end
if taken then
    local fence = 0
    if bit.band(flags, 1) ~= 0 then
        fence = redis.call('INCR', KEYS[2])
        -- Never below the server's clock in microseconds: a counter lost
        -- with a restart without persistence, or with a failover to a
        -- replica that lags, starts again above every token handed out.
        local now = redis.call('TIME')
        local floor = tonumber(now[1]) * 1000000 + tonumber(now[2])
        if fence < floor then
            fence = floor
            redis.call('SET', KEYS[2], string.format('%.0f', floor))
        end
    end
    return {0, fence}
end
local state = 1
if held == 'cooldown' then
    state = 2
end
if wait > 0 then
    -- The mark lasts as long as the longest waiter.
    if redis.call('PTTL', KEYS[3]) < wait then
        redis.call('SET', KEYS[3], '1', 'PX', wait)
    end
    -- Flag the holder's lock, keeping its lease: its release then wakes a
    -- waiter, and a release of an unflagged lock needs to look no further.
    -- (A cooldown is not flagged: it ends by expiring, not by a release.)
    if state == 1 and held and #held == 16 then
        redis.call('APPEND', KEYS[1], '+')
    end
end
return {state, redis.call('PTTL', KEYS[1])}
