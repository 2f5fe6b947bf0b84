-- Extend the caller's lease, only if the lock is still the caller's
-- (compare-and-extend: a lost lock is never revived).
-- KEYS: 1 the lock. ARGV: 1 the owner token, 2 the new lease in ms.
-- Returns 1 when extended, 0 when the lock is gone or someone else's.
-- The caller's token, or the token flagged by a waiter ('+').
local held = redis.call('GET', KEYS[1])
if held == ARGV[1] or held == ARGV[1] .. '+' then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
