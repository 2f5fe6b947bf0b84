-- Prepended to the scripts that wake waiters.
-- Wakes one waiter of a lock, if any waits (each later release wakes the
-- next one): `waiting` is the waiters' marker, `signal` the wake-up list
-- that a waiter sleeps on with BLPOP.
local function wake(waiting, signal)
    if redis.call('EXISTS', waiting) == 1 then
        redis.call('DEL', signal)
        redis.call('RPUSH', signal, '1')
        redis.call('PEXPIRE', signal, math.max(redis.call('PTTL', waiting), 1))
    end
end
