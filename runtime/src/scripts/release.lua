-- Delete the lock only if the caller still owns it (compare-and-delete).
-- KEYS[1] the lock key, ARGV[1] the owner token.
-- Returns 1 when the caller's lock was deleted, 0 when it was no longer the caller's.
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
