// Lua scripts of the Redis Cluster registry adapter: each compare-and-set is one script whose
// keys all carry one hash tag (the session, or `app/*` for app-wide portions), so it runs on one
// shard. The cross-shard indexes (by node, by app, all sessions) are kept by the adapter outside
// the scripts. Every script PUBLISHes its change (classic pub/sub: the cluster bus carries it to
// every node; docs/DECISIONS.md "D35 Registry on Redis Cluster"). Text only; no imports.

/**
 * bind: KEYS = location, session index; ARGV = channel, vaddr, app/session, node, queue|'',
 * host|'', port|'', now, floor, change text without its epoch. The epoch is floor + 1 (floor: the
 * highest epoch of this vaddr the writer has seen, 0 if none), so a bind lost in a failover and
 * made again does not repeat the lost epoch. Returns {1, epoch} when bound, {0, hash} when taken.
 */
export const CLUSTER_BIND = `
local k = KEYS[1]
if redis.call('EXISTS', k) == 1 then return {0, redis.call('HGETALL', k)} end
local epoch = tonumber(ARGV[9]) + 1
redis.call('HSET', k, 'vaddr', ARGV[2], 'key', ARGV[3], 'node', ARGV[4], 'epoch', epoch, 'updatedAt', ARGV[8])
if ARGV[5] ~= '' then redis.call('HSET', k, 'queue', ARGV[5]) end
if ARGV[6] ~= '' then redis.call('HSET', k, 'host', ARGV[6], 'port', ARGV[7]) end
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('PUBLISH', ARGV[1], ARGV[10] .. epoch .. '}')
return {1, epoch}
`;

/**
 * move [c31, c32]: KEYS = location; ARGV = channel, expected epoch, node, queue|'', host|'',
 * port|'', now, floor, change text without its epoch. The new epoch is max(stored, floor) + 1.
 * Returns {2, epoch, old node} when moved, {1, hash} when the epoch is stale, {0} when missing.
 */
export const CLUSTER_MOVE = `
local k = KEYS[1]
local cur = redis.call('HGET', k, 'epoch')
if not cur then return {0} end
if tonumber(cur) ~= tonumber(ARGV[2]) then return {1, redis.call('HGETALL', k)} end
local old = redis.call('HGET', k, 'node')
local epoch = math.max(tonumber(cur), tonumber(ARGV[8])) + 1
redis.call('HDEL', k, 'queue', 'host', 'port')
redis.call('HSET', k, 'node', ARGV[3], 'epoch', epoch, 'updatedAt', ARGV[7])
if ARGV[4] ~= '' then redis.call('HSET', k, 'queue', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', k, 'host', ARGV[5], 'port', ARGV[6]) end
redis.call('PUBLISH', ARGV[1], ARGV[9] .. epoch .. '}')
return {2, epoch, old}
`;

/**
 * unbind: KEYS = location, session index; ARGV = channel, vaddr, expected epoch|'', change text
 * without its epoch. Returns {2, hash} when removed, {1, hash} when stale, {0} when missing.
 */
export const CLUSTER_UNBIND = `
local k = KEYS[1]
local h = redis.call('HGETALL', k)
if #h == 0 then return {0} end
local epoch = redis.call('HGET', k, 'epoch')
if ARGV[3] ~= '' and tonumber(epoch) ~= tonumber(ARGV[3]) then return {1, h} end
redis.call('SREM', KEYS[2], ARGV[2])
redis.call('DEL', k)
redis.call('PUBLISH', ARGV[1], ARGV[4] .. epoch .. '}')
return {2, h}
`;

/**
 * createSession: KEYS = session; ARGV = channel, id, app, box, node, placements JSON, now, change,
 * app version|'', switch id|''.
 * Returns {1} when created, {0, hash} when it exists.
 */
export const CLUSTER_CREATE_SESSION = `
local k = KEYS[1]
if redis.call('EXISTS', k) == 1 then return {0, redis.call('HGETALL', k)} end
redis.call('HSET', k, 'id', ARGV[2], 'app', ARGV[3], 'box', ARGV[4], 'node', ARGV[5], 'placements', ARGV[6],
  'createdAt', ARGV[7], 'updatedAt', ARGV[7], 'version', 1)
if ARGV[9] ~= '' then redis.call('HSET', k, 'appVersion', ARGV[9]) end
if ARGV[10] ~= '' then redis.call('HSET', k, 'switchId', ARGV[10]) end
redis.call('PUBLISH', ARGV[1], ARGV[8])
return {1}
`;

/**
 * updateSession: KEYS = session; ARGV = channel, expected version, node|'', placements JSON|'',
 * now, change, app version|'', switch id|'' (empty: kept). Returns {2, hash, old node} when updated, {1, hash} when stale, {0} when missing.
 */
export const CLUSTER_UPDATE_SESSION = `
local k = KEYS[1]
local cur = redis.call('HGET', k, 'version')
if not cur then return {0} end
if tonumber(cur) ~= tonumber(ARGV[2]) then return {1, redis.call('HGETALL', k)} end
local old = redis.call('HGET', k, 'node')
if ARGV[3] ~= '' then redis.call('HSET', k, 'node', ARGV[3]) end
if ARGV[4] ~= '' then redis.call('HSET', k, 'placements', ARGV[4]) end
if ARGV[7] ~= '' then redis.call('HSET', k, 'appVersion', ARGV[7]) end
if ARGV[8] ~= '' then redis.call('HSET', k, 'switchId', ARGV[8]) end
redis.call('HSET', k, 'updatedAt', ARGV[5], 'version', tonumber(cur) + 1)
redis.call('PUBLISH', ARGV[1], ARGV[6])
return {2, redis.call('HGETALL', k), old}
`;

/**
 * deleteSession: KEYS = session; ARGV = channel, change text without its version.
 * Returns {version, node, app} of the session deleted, or {} when missing.
 */
export const CLUSTER_DELETE_SESSION = `
local k = KEYS[1]
local h = redis.call('HMGET', k, 'version', 'node', 'app')
if not h[1] then return {} end
redis.call('DEL', k)
redis.call('PUBLISH', ARGV[1], ARGV[2] .. h[1] .. '}')
return {tonumber(h[1]), h[2], h[3]}
`;

/**
 * putCheckpoint [issue 13.2]: KEYS = checkpoint, location (one tag); ARGV = vaddr, node, epoch,
 * seq, state, now. As the one-Redis script, and also fenced when the location is at the writer's
 * epoch but names another node: after a failover lost a bind, a second claimer can hold the same
 * epoch, and the node decides. Returns {2} when written, {1} when stale.
 */
export const CLUSTER_PUT_CHECKPOINT = `
local loc = redis.call('HMGET', KEYS[2], 'epoch', 'node')
if loc[1] then
  local le = tonumber(loc[1])
  if le > tonumber(ARGV[3]) or (le == tonumber(ARGV[3]) and loc[2] ~= ARGV[2]) then return {1} end
end
local cur = redis.call('HMGET', KEYS[1], 'epoch', 'seq')
if cur[1] then
  local e, s, ne, ns = tonumber(cur[1]), tonumber(cur[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
  if e > ne or (e == ne and s >= ns) then return {1} end
end
redis.call('HSET', KEYS[1], 'vaddr', ARGV[1], 'node', ARGV[2], 'epoch', ARGV[3], 'seq', ARGV[4], 'state', ARGV[5], 'writtenAt', ARGV[6])
return {2}
`;
