-- The admin API's release: free a lock if it still has the value the
-- operator saw (whoever holds it; a holder that changed since is left
-- alone), and wake a waiter.
-- KEYS: 1 the lock, 2 its waiters' marker, 3 its wake-up signal list.
-- ARGV: 1 the lock's value as read.
-- Returns 1 when freed, 0 when it had changed.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return 0
end
redis.call('DEL', KEYS[1])
wake(KEYS[2], KEYS[3])
return 1
