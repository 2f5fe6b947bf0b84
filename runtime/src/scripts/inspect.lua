-- What the admin API shows of one lock, read in one atomic step.
-- KEYS: 1 the lock, 2 its fencing counter, 3 the waiters' marker,
--       4 the stored result (all in one hash slot).
-- Returns {lock, lock pttl, marker pttl, fence, result bytes, result pttl,
-- deadline}: lock is the lock's value ('' when there is none, '!' when the
-- key is not a string), fence '' when there is none; a pttl is -2 for no
-- key; deadline is when the lock expires by the server's clock, in ms (-2
-- without one): every cooldown has the same value, its deadline tells one
-- from the next.
local function get(key)
    local value = redis.pcall('GET', key)
    if type(value) == 'table' then
        return '!'
    end
    return value or ''
end
local bytes = redis.pcall('STRLEN', KEYS[4])
if type(bytes) == 'table' then
    bytes = -1
end
local pttl = redis.call('PTTL', KEYS[1])
local deadline = -2
if pttl >= 0 then
    local now = redis.call('TIME')
    deadline = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + pttl
end
return {
    get(KEYS[1]),
    pttl,
    redis.call('PTTL', KEYS[3]),
    get(KEYS[2]),
    bytes,
    redis.call('PTTL', KEYS[4]),
    deadline,
}
