-- Turn the caller's lock into a cooldown: the key stays taken for the window
-- and no longer belongs to anyone, so nobody can release it early.
-- KEYS[1] the lock key, ARGV[1] the owner token, ARGV[2] the window in milliseconds.
-- Returns 1 when the lock was still the caller's, 0 otherwise (left alone).
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('SET', KEYS[1], 'cooldown', 'PX', ARGV[2])
    return 1
end
return 0
