// Lua scripts of the Redis registry adapter: each write is one script, so the compare-and-set,
// the index sets and the change notification (PUBLISH) happen atomically. Text only; no imports.
// Keys are derived inside the scripts from ARGV[1] (the prefix): one Redis, not Redis Cluster.

/** Shared helpers prepended to every script. */
const LIB = `
local P = ARGV[1]
local function locKey(v) return P .. 'loc:' .. v end
local function nodeKey(n) return P .. 'node-locs:' .. n end
local function sessLocKey(s) return P .. 'session-locs:' .. s end
local function sessKey(id) return P .. 'session:' .. id end
local function publish(body) redis.call('PUBLISH', P .. 'changes', body) end
`;

/**
 * bind: ARGV = prefix, vaddr, app/session, node, queue|'', host|'', port|'', now, change.
 * Returns {1} when bound, {0, hash} when the vaddr exists.
 */
export const BIND = `${LIB}
local v = ARGV[2]
local k = locKey(v)
if redis.call('EXISTS', k) == 1 then return {0, redis.call('HGETALL', k)} end
redis.call('HSET', k, 'vaddr', v, 'key', ARGV[3], 'node', ARGV[4], 'epoch', 1, 'updatedAt', ARGV[8])
if ARGV[5] ~= '' then redis.call('HSET', k, 'queue', ARGV[5]) end
if ARGV[6] ~= '' then redis.call('HSET', k, 'host', ARGV[6], 'port', ARGV[7]) end
redis.call('SADD', nodeKey(ARGV[4]), v)
redis.call('SADD', sessLocKey(ARGV[3]), v)
publish(ARGV[9])
return {1}
`;

/**
 * move [c31, c32]: ARGV = prefix, vaddr, expected epoch, node, queue|'', host|'', port|'', now, change.
 * Returns {2} when moved, {1, hash} when the epoch is stale, {0} when missing.
 */
export const MOVE = `${LIB}
local v = ARGV[2]
local k = locKey(v)
local cur = redis.call('HGET', k, 'epoch')
if not cur then return {0} end
if tonumber(cur) ~= tonumber(ARGV[3]) then return {1, redis.call('HGETALL', k)} end
local old = redis.call('HGET', k, 'node')
redis.call('HDEL', k, 'queue', 'host', 'port')
redis.call('HSET', k, 'node', ARGV[4], 'epoch', tonumber(cur) + 1, 'updatedAt', ARGV[8])
if ARGV[5] ~= '' then redis.call('HSET', k, 'queue', ARGV[5]) end
if ARGV[6] ~= '' then redis.call('HSET', k, 'host', ARGV[6], 'port', ARGV[7]) end
if old ~= ARGV[4] then
  redis.call('SREM', nodeKey(old), v)
  redis.call('SADD', nodeKey(ARGV[4]), v)
end
publish(ARGV[9])
return {2}
`;

/**
 * unbind: ARGV = prefix, vaddr, expected epoch|'', change-without-epoch prefix.
 * Returns {2, hash} when removed, {1, hash} when stale, {0} when missing. The change text is
 * completed here because only the script knows the epoch removed.
 */
export const UNBIND = `${LIB}
local v = ARGV[2]
local k = locKey(v)
local h = redis.call('HGETALL', k)
if #h == 0 then return {0} end
local epoch = redis.call('HGET', k, 'epoch')
if ARGV[3] ~= '' and tonumber(epoch) ~= tonumber(ARGV[3]) then return {1, h} end
redis.call('SREM', nodeKey(redis.call('HGET', k, 'node')), v)
redis.call('SREM', sessLocKey(redis.call('HGET', k, 'key')), v)
redis.call('DEL', k)
publish(ARGV[4] .. epoch .. '}')
return {2, h}
`;

/**
 * createSession: ARGV = prefix, id, app, box, node, placements JSON, now, change, app version|'',
 * switch id|''. Returns {1} when created, {0, hash} when it exists.
 */
export const CREATE_SESSION = `${LIB}
local id = ARGV[2]
local k = sessKey(id)
if redis.call('EXISTS', k) == 1 then return {0, redis.call('HGETALL', k)} end
redis.call('HSET', k, 'id', id, 'app', ARGV[3], 'box', ARGV[4], 'node', ARGV[5], 'placements', ARGV[6],
  'createdAt', ARGV[7], 'updatedAt', ARGV[7], 'version', 1)
if ARGV[9] ~= '' then redis.call('HSET', k, 'appVersion', ARGV[9]) end
if ARGV[10] ~= '' then redis.call('HSET', k, 'switchId', ARGV[10]) end
redis.call('SADD', P .. 'sessions', id)
redis.call('SADD', P .. 'node-sessions:' .. ARGV[5], id)
redis.call('SADD', P .. 'app-sessions:' .. ARGV[3], id)
publish(ARGV[8])
return {1}
`;

/**
 * updateSession: ARGV = prefix, id, expected version, node|'', placements JSON|'', now, change,
 * app version|'', switch id|'' (empty: the stored one is kept).
 * Returns {2, hash} when updated, {1, hash} when stale, {0} when missing.
 */
export const UPDATE_SESSION = `${LIB}
local id = ARGV[2]
local k = sessKey(id)
local cur = redis.call('HGET', k, 'version')
if not cur then return {0} end
if tonumber(cur) ~= tonumber(ARGV[3]) then return {1, redis.call('HGETALL', k)} end
if ARGV[4] ~= '' then
  local old = redis.call('HGET', k, 'node')
  if old ~= ARGV[4] then
    redis.call('SREM', P .. 'node-sessions:' .. old, id)
    redis.call('SADD', P .. 'node-sessions:' .. ARGV[4], id)
  end
  redis.call('HSET', k, 'node', ARGV[4])
end
if ARGV[5] ~= '' then redis.call('HSET', k, 'placements', ARGV[5]) end
if ARGV[8] ~= '' then redis.call('HSET', k, 'appVersion', ARGV[8]) end
if ARGV[9] ~= '' then redis.call('HSET', k, 'switchId', ARGV[9]) end
redis.call('HSET', k, 'updatedAt', ARGV[6], 'version', tonumber(cur) + 1)
publish(ARGV[7])
return {2, redis.call('HGETALL', k)}
`;

/**
 * deleteSession: ARGV = prefix, id, change-without-version prefix.
 * Returns the version deleted, or 0 when missing.
 */
export const DELETE_SESSION = `${LIB}
local id = ARGV[2]
local k = sessKey(id)
local version = redis.call('HGET', k, 'version')
if not version then return 0 end
redis.call('SREM', P .. 'sessions', id)
redis.call('SREM', P .. 'node-sessions:' .. redis.call('HGET', k, 'node'), id)
redis.call('SREM', P .. 'app-sessions:' .. redis.call('HGET', k, 'app'), id)
redis.call('DEL', k)
publish(ARGV[3] .. version .. '}')
return tonumber(version)
`;

/**
 * putCheckpoint [issue 13.2]: KEYS = checkpoint key, location key; ARGV = vaddr, node, epoch, seq,
 * state, now. Returns {2} when written, {1} when the stored one is newer (a higher epoch, or the
 * same epoch and a seq at least as high) or the vaddr's location has moved past the writer's
 * epoch. Not published. (Redis Cluster: both keys need one hash tag, the vaddr.)
 */
export const PUT_CHECKPOINT = `
local k = KEYS[1]
local loc = redis.call('HGET', KEYS[2], 'epoch')
if loc and tonumber(loc) > tonumber(ARGV[3]) then return {1} end
local cur = redis.call('HMGET', k, 'epoch', 'seq')
if cur[1] then
  local e, s, ne, ns = tonumber(cur[1]), tonumber(cur[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
  if e > ne or (e == ne and s >= ns) then return {1} end
end
redis.call('HSET', k, 'vaddr', ARGV[1], 'node', ARGV[2], 'epoch', ARGV[3], 'seq', ARGV[4], 'state', ARGV[5], 'writtenAt', ARGV[6])
return {2}
`;

/** deleteCheckpoint: KEYS = checkpoint key; ARGV = most epoch removed|''. Returns 1 when removed. */
export const DELETE_CHECKPOINT = `
local e = redis.call('HGET', KEYS[1], 'epoch')
if not e then return 0 end
if ARGV[1] ~= '' and tonumber(e) > tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
return 1
`;
