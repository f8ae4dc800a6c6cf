/**
 * The token bucket of one cloud account, as one Redis script so that every process on every host
 * shares it and no read-modify-write races. Time is Redis' own clock (TIME), not the callers'.
 *
 * KEYS[1] the bucket hash (tokens, ts, factor, fts)
 * ARGV    rate (tokens/s), burst, recovery step (ms), minimum factor, mode (take | penalize | peek)
 *
 * `factor` scales the rate: a penalty halves it (down to the minimum) and drains the bucket; every
 * recovery step since the last penalty doubles it back, up to 1. Returns
 * {wait ms (0 = a token was taken), tokens × 1000, factor × 1e6}.
 */
export const TOKEN_BUCKET_LUA = `
local key = KEYS[1]
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local step = tonumber(ARGV[3])
local minf = tonumber(ARGV[4])
local mode = ARGV[5]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HMGET', key, 'tokens', 'ts', 'factor', 'fts')
local tokens = tonumber(h[1]) or burst
local ts = tonumber(h[2]) or now
local factor = tonumber(h[3]) or 1
local fts = tonumber(h[4]) or now
if ts > now then ts = now end
if fts > now then fts = now end
if factor < 1 then
  local steps = math.floor((now - fts) / step)
  if steps > 0 then
    factor = math.min(1, factor * (2 ^ steps))
    fts = fts + steps * step
  end
end
tokens = math.min(burst, tokens + (now - ts) * rate * factor / 1000)
local wait = 0
if mode == 'take' then
  if tokens >= 1 then
    tokens = tokens - 1
  else
    wait = math.ceil((1 - tokens) * 1000 / (rate * factor))
  end
elseif mode == 'penalize' then
  factor = math.max(minf, factor / 2)
  fts = now
  if tokens > 0 then tokens = 0 end
end
redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', now, 'factor', tostring(factor), 'fts', fts)
local ttl = math.ceil(burst * 1000 / (rate * factor)) + 1000
if factor < 1 then ttl = ttl + step * math.ceil(math.log(1 / factor) / math.log(2)) end
redis.call('PEXPIRE', key, ttl)
return {wait, math.floor(tokens * 1000), math.floor(factor * 1000000)}
`;
