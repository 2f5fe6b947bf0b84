-- Give the caller's lock up, only if it is still the caller's
-- (compare-and-delete; never a plain DEL of someone else's lock). The
-- plain release, without cooldown or stored result.
-- KEYS: 1 the lock, 2 its waiters' marker, 3 its wake-up signal list.
-- ARGV: 1 the owner token.
-- Returns 1 when the lock was the caller's, 0 when it was left alone.
local held = redis.call('GET', KEYS[1])
if held == ARGV[1] then
    redis.call('DEL', KEYS[1])
    return 1
end
-- Flagged by a waiter (the token and a '+'): free it and wake one.
if held ~= ARGV[1] .. '+' then
    return 0
end
redis.call('DEL', KEYS[1])
wake(KEYS[2], KEYS[3])
return 1
