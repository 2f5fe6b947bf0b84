-- Take the lock if it is free; otherwise report who has it and for how long.
-- KEYS[1] the lock key, ARGV[1] the owner token, ARGV[2] the lease in milliseconds.
-- Returns the status reply OK when taken, else {cooling, pttl}: cooling is 1
-- during a cooldown after a successful run, 0 while a call holds the key;
-- pttl is the time left in milliseconds (-1 when the key has no expiry).
-- A key of another type fails GET with WRONGTYPE.
local taken = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
if taken then
    return taken
end
local cooling = 0
if redis.call('GET', KEYS[1]) == 'cooldown' then
    cooling = 1
end
return {cooling, redis.call('PTTL', KEYS[1])}
