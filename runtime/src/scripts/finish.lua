-- Give the caller's lock up, only if it is still the caller's
-- (compare-and-delete; never a plain DEL of someone else's lock).
-- KEYS: as acquire.lua (1 lock, 2 fencing counter, 3 waiters' marker,
--       4 wake-up signal list, 5 stored result).
-- ARGV: 1 the owner token, 2 the cooldown in ms (0: free the key at once),
--       3 how long to keep the result in ms (0: store nothing), 4 the result.
-- Returns 1 when the lock was the caller's, 0 when it was left alone.
-- The caller's token, or the token flagged by a waiter ('+').
local held = redis.call('GET', KEYS[1])
if held ~= ARGV[1] and held ~= ARGV[1] .. '+' then
    return 0
end
local replay = tonumber(ARGV[3])
if replay > 0 then
    redis.call('SET', KEYS[5], ARGV[4], 'PX', replay)
end
local cooldown = tonumber(ARGV[2])
if cooldown > 0 then
    -- Taken, by nobody: no one can release it before the window ends.
    redis.call('SET', KEYS[1], 'cooldown', 'PX', cooldown)
else
    redis.call('DEL', KEYS[1])
end
wake(KEYS[3], KEYS[4])
return 1
