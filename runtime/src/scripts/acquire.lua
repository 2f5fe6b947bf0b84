-- Take the lock if it is free; otherwise report how long the holder keeps it.
-- KEYS[1] the lock key, ARGV[1] the owner token, ARGV[2] the lease in milliseconds.
-- Returns the status reply OK when taken, else the holder's remaining PTTL in
-- milliseconds (-1 when the key has no expiry).
local taken = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
if taken then
    return taken
end
if redis.call('TYPE', KEYS[1]).ok ~= 'string' then
    return redis.error_reply('WRONGTYPE the lock key holds a value that is not a string')
end
return redis.call('PTTL', KEYS[1])
