-- The versioned write of a placement (store.Write). It runs alone on its Redis
-- node, so nothing comes between reading the current version and writing the next.
--
-- KEYS[1]  the placement's record key
-- KEYS[2]  its history: a list of JSON entries, newest first
-- ARGV[1]  the expected version, or "" for an unconditional write
-- ARGV[2]  "put" or "delete"
-- ARGV[3]  the new record's JSON (put)
-- ARGV[4]  who, as a JSON string
-- ARGV[5]  when, as a JSON string
-- ARGV[6]  how many entries the history keeps
--
-- Reply: {outcome, old version, new version, entry, old record (when there was one)}
-- where outcome is "written", "unchanged", "mismatch" or "missing" (delete of no record).
local head = redis.call('LINDEX', KEYS[2], 0)
local current = 0
if head then
  current = tonumber(cjson.decode(head).version)
end
local old = redis.call('GET', KEYS[1])
local function reply(outcome, version, entry)
  if old then
    return {outcome, current, version, entry, old}
  end
  return {outcome, current, version, entry}
end
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= current then
  return reply('mismatch', current, '')
end
local record = 'null'
if ARGV[2] == 'delete' then
  if not old then
    return reply('missing', current, '')
  end
  redis.call('DEL', KEYS[1])
else
  if old == ARGV[3] then
    return reply('unchanged', current, '')
  end
  record = ARGV[3]
  redis.call('SET', KEYS[1], record)
end
local version = current + 1
-- The record is spliced in as it is, not re-encoded: the history keeps the bytes
-- that were stored.
local entry = '{"version":' .. string.format('%d', version) .. ',"at":' .. ARGV[5] ..
  ',"who":' .. ARGV[4] .. ',"placement":' .. record .. '}'
redis.call('LPUSH', KEYS[2], entry)
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[6]) - 1)
return reply('written', version, entry)
