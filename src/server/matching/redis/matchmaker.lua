-- duet's matchmaker on Redis: the design's GetRandomUser / Sendmatch / Checkmatch rule (see
-- src/server/matching/mod.rs), run for every node that shares this Redis. Redis runs a script
-- alone, so each call below is one atomic step across the whole site: nobody can be picked by
-- two searches at once, and a pair is confirmed (both still searching, Call still pressed) in
-- the same step that picked it. Its twin for one server is src/server/matching/memory.rs;
-- tests/matching_differential.rs drives both with the same steps and compares them.
--
-- EVALSHA <sha> 0 <node> <seed> <command>
--   node     the calling node's id
--   seed     128 random bits from the caller: call ids are minted from it (Redis seeds Lua's
--            own random generator the same way on every call, so it cannot be used)
--   command  JSON: one of Rust's `matching::Op` (session ops) or `redis::script::NodeOp`
--            (hello, beat, bye), tagged by "op"
-- Replies are JSON too: "ok", {"refused": <ErrorCode>}, "node_lost", {"online": N}, and for
-- a tab's return to another node {"adopted": {"record": …, "partner_node": …}} or "gone".
--
-- Keys: the table KEY, written before this file from src/server/matching/redis/keys.rs (the
-- one place key names are spelled). Under them:
--   session <id>        hash: node, state (idle|searching|call), call, partner, last, tags
--                       (JSON list), text (1|0), lang (a language code, or empty), gen
--                       (search number), open (1|0), addr,
--                       vk and vh (visitor key and address hash, for blocks), away (1 while
--                       its tab lost its socket in a call);
--                       made at the session's first Call, deleted when its tab closes
--   resume <token>      hash: session, visitor (its key's hash), record (JSON: what another
--                       node needs to take the session over); left by the node of a session
--                       whose tab lost its socket in a call, for the grace (ops.linger)
--   blocks <key>        hash: what visitor key <key> blocked (k:<key> or a:<address hash>)
--                       -> until (Unix seconds); expires with its latest block
--   call <id>           hash: a, b, text (1|0), winner (the session whose peer1 won)
--   open_pool           set: searching sessions that take anyone
--   pool <pref>         set: searching sessions preferring i:<interest>, l:<language> or
--                       text (text-only)
--   node <node>         the node's heartbeat: its online count, with a time to live
--   node_sessions <n>   set: the node's sessions, so a dead node's can be found
--   nodes               set: every node that has beaten
-- What each node must tell its sessions is published, one message per node per step, on its
-- channel (KEY.channel .. node) as {"kind": "effects", "effects": [Rust's `matching::Effect`]}.

local node, seed = ARGV[1], ARGV[2]
local cmd = cjson.decode(ARGV[3])
local op = cmd.op
local OPEN = KEY.open_pool
local NODES = KEY.nodes
-- How many pool members one look at a pool draws. Only the stranger just left can be
-- excluded (and the rare few who last left us), so a handful always finds someone.
local SAMPLE = 8

local function session_key(id) return KEY.session .. id end
local function call_key(id) return KEY.call .. id end
local function pool_key(pref) return KEY.pool .. pref end
local function alive_key(n) return KEY.node .. n end
local function members_key(n) return KEY.node .. n .. KEY.node_sessions_suffix end

local function alive(n)
  return n and redis.call('EXISTS', alive_key(n)) == 1
end

-- Messages, batched per node so a node applies one step's messages together (both sides of
-- a pair on one node see their match before either can relay to the other).
local batches, nodes_told = {}, {}
local function emit(to_node, event)
  if not to_node then return end
  if not batches[to_node] then
    batches[to_node] = {}
    nodes_told[#nodes_told + 1] = to_node
  end
  table.insert(batches[to_node], event)
end
local function flush()
  for _, n in ipairs(nodes_told) do
    redis.call('PUBLISH', KEY.channel .. n, cjson.encode({ kind = 'effects', effects = batches[n] }))
  end
end

local minted = 0
local function new_call_id()
  minted = minted + 1
  return string.sub(redis.sha1hex(seed .. ':' .. minted), 1, 16)
end

local function preferences(id)
  local rec = redis.call('HMGET', session_key(id), 'tags', 'text', 'lang')
  local prefs = {}
  for _, tag in ipairs(cjson.decode(rec[1] or '[]')) do prefs[#prefs + 1] = 'i:' .. tag end
  -- Text-only visitors look for text-only strangers first, whatever their language (memory.rs).
  if rec[3] and rec[3] ~= '' and rec[2] ~= '1' then prefs[#prefs + 1] = 'l:' .. rec[3] end
  if rec[2] == '1' then prefs[#prefs + 1] = 'text' end
  return prefs
end

local function leave_pool(id)
  redis.call('SREM', OPEN, id)
  for _, pref in ipairs(preferences(id)) do redis.call('SREM', pool_key(pref), id) end
end

-- "Never again" (src/server/matching/blocks.rs): what a block of a visitor names.
local function targets(key, addr)
  local t = {}
  if key and key ~= '' then t[#t + 1] = 'k:' .. key end
  if addr and addr ~= '' then t[#t + 1] = 'a:' .. addr end
  return t
end

-- Whether visitor key `by` blocked the visitor (`key`, `addr`): at most two lookups.
local function blocked_by(by, key, addr)
  if not by or by == '' then return false end
  for _, t in ipairs(targets(key, addr)) do
    if redis.call('HEXISTS', KEY.blocks .. by, t) == 1 then return true end
  end
  return false
end

-- Either of two visitors, each {key, addr}, blocked the other.
local function blocked(x, y)
  return blocked_by(x[1], y[1], y[2]) or blocked_by(y[1], x[1], x[2])
end

-- GetRandomUser in one pool for `who` (see `pick`): a random member that is not `who`, not
-- blocked by or blocking `who`, not the stranger `who` just left, and did not just leave
-- `who`. Members left behind by a node that died are tidied away on sight (each only once,
-- so a pick stays O(1) amortised). Returns the pick, and the first excluded member seen.
local function pick_in(pool, who)
  local me, my_last, mine = who.id, who.last, who.visitor
  local excluded, saw_blocked = false, false
  -- false: not taken (`tidied` says whether it was tidied away); or the pick.
  local function consider(c)
    if c == me then return false, false end
    local rec = redis.call('HMGET', session_key(c), 'node', 'state', 'last', 'vk', 'vh')
    if rec[2] ~= 'searching' or not alive(rec[1]) then
      redis.call('SREM', pool, c)
      return false, true
    elseif blocked(mine, { rec[4], rec[5] }) then
      saw_blocked = true
    elseif c == my_last or rec[3] == me then
      excluded = excluded or c
    else
      return c, false
    end
    return false, false
  end
  repeat
    local tidied = false
    for _, c in ipairs(redis.call('SRANDMEMBER', pool, SAMPLE)) do
      local found, gone = consider(c)
      if found then return found, excluded end
      tidied = tidied or gone
    end
  until not tidied
  -- Strangers the two blocked filled the sample: look through the rest of the pool, at one
  -- look per member until someone is found (bounded by the blocks, not by the crowd).
  if saw_blocked and redis.call('SCARD', pool) > SAMPLE then
    local cursor = '0'
    repeat
      local page = redis.call('SSCAN', pool, cursor, 'COUNT', 64)
      cursor = page[1]
      for _, c in ipairs(page[2]) do
        local found = consider(c)
        if found then return found, excluded end
      end
    until cursor == '0'
  end
  return false, excluded
end

-- GetRandomUser among those sharing one of `prefs`, trying them from a random place.
-- Returns the pick, and the first excluded member seen (as `pick_in`).
local function pick_by_preference(who, prefs)
  if #prefs == 0 then return false, false end
  local start = tonumber(string.sub(seed, 1, 6), 16) % #prefs
  local excluded = false
  for step = 0, #prefs - 1 do
    local found, first = pick_in(pool_key(prefs[(start + step) % #prefs + 1]), who)
    if found then return found, excluded end
    excluded = excluded or first
  end
  return false, excluded
end

-- The stranger just left is taken only when nobody else this search would take waits.
local function settle(found, excluded) return found or excluded end

-- Sendmatch + Checkmatch, confirmed in this same atomic step: both are searching (Call still
-- pressed); both leave the pools and enter a new call; both are told. `a` is the side whose
-- search made the pair (`first`).
local function pair(a, b)
  leave_pool(a)
  leave_pool(b)
  local call = new_call_id()
  local ra = redis.call('HMGET', session_key(a), 'node', 'tags', 'text', 'addr', 'vk', 'lang')
  local rb = redis.call('HMGET', session_key(b), 'node', 'tags', 'text', 'addr', 'vk', 'lang')
  local language = ra[6] == rb[6] and ra[6] or ''
  local theirs = {}
  for _, tag in ipairs(cjson.decode(rb[2] or '[]')) do theirs[tag] = true end
  local shared = {}
  for _, tag in ipairs(cjson.decode(ra[2] or '[]')) do
    if theirs[tag] then shared[#shared + 1] = tag end
  end
  -- cjson writes an empty table as {}, not []: an empty list is left out (Rust's default).
  if #shared == 0 then shared = nil end
  local text = ra[3] == '1' or rb[3] == '1'
  redis.call('HSET', call_key(call), 'a', a, 'b', b, 'text', text and '1' or '0')
  redis.call('HSET', session_key(a), 'state', 'call', 'call', call, 'partner', b)
  redis.call('HSET', session_key(b), 'state', 'call', 'call', call, 'partner', a)
  emit(ra[1], { ev = 'matched', to = a, call = call, partner = b, partner_node = rb[1],
    partner_addr = rb[4], partner_key = rb[5] or '', shared_interests = shared,
    shared_language = language,
    partner_text_only = rb[3] == '1',
    text_only = text, first = true })
  emit(rb[1], { ev = 'matched', to = b, call = call, partner = a, partner_node = ra[1],
    partner_addr = ra[4], partner_key = ra[5] or '', shared_interests = shared,
    shared_language = language,
    partner_text_only = ra[3] == '1',
    text_only = text, first = false })
end

-- GetRandomUser for `id`'s search: among those who take anyone if it is `open`, else among
-- those who share one of its `prefs`. With `again` (an open search looking again after its
-- blocks were cleared), among both: it also waits in its preferences' pools, where the
-- strangers who share one would take it.
local function pick(id, open, prefs, my_last, again)
  -- Who is searching, read once for every pool looked at.
  local who = { id = id, last = my_last,
    visitor = redis.call('HMGET', session_key(id), 'vk', 'vh') }
  if not open then return settle(pick_by_preference(who, prefs)) end
  local found, excluded = pick_in(OPEN, who)
  if found or not again then return settle(found, excluded) end
  local by_preference, first = pick_by_preference(who, prefs)
  return settle(by_preference, excluded or first)
end

-- Call is pressed for `id`: pair it with a waiting stranger at once, or make it wait.
local function search(id)
  local k = session_key(id)
  local n = redis.call('HGET', k, 'node')
  if not alive(n) then return end
  local gen = redis.call('HINCRBY', k, 'gen', 1)
  local prefs = preferences(id)
  local open = #prefs == 0
  redis.call('HSET', k, 'state', 'searching', 'open', open and '1' or '0')
  redis.call('HDEL', k, 'call', 'partner')
  local other = pick(id, open, prefs, redis.call('HGET', k, 'last'))
  if other then
    pair(id, other)
    return
  end
  for _, pref in ipairs(prefs) do redis.call('SADD', pool_key(pref), id) end
  if open then redis.call('SADD', OPEN, id) end
  emit(n, { ev = 'searching', to = id, search = gen, open = open })
end

-- Marks `id` out of its call with `partner`, remembering whom it left.
local function call_over(id, partner)
  redis.call('HSET', session_key(id), 'state', 'idle', 'last', partner)
  redis.call('HDEL', session_key(id), 'call', 'partner')
end

-- Ends `id`'s call, if it has one; the partner is told why. Returns the partner.
local function hang_up(id, reason)
  local rec = redis.call('HMGET', session_key(id), 'state', 'call', 'partner')
  if rec[1] ~= 'call' then return false end
  local call, partner = rec[2], rec[3]
  redis.call('DEL', call_key(call))
  call_over(id, partner)
  local partner_node = redis.call('HGET', session_key(partner), 'node')
  if not partner_node then return false end
  call_over(partner, id)
  emit(partner_node, { ev = 'ended', to = partner, call = call, reason = reason })
  return partner
end

-- Defined below: a partner left behind searches again, unless away (it leaves too).
local search_again

-- Forgets a session that is gone; its partner is told and searches again.
local function leave(id)
  local n = redis.call('HGET', session_key(id), 'node')
  local partner = hang_up(id, 'partner_left')
  leave_pool(id)
  redis.call('DEL', session_key(id))
  if n then redis.call('SREM', members_key(n), id) end
  if partner then search_again(partner) end
end

-- `id`'s call is over and it searches again: unless its tab is away (ops.away); then there is
-- nothing to come back to, and it leaves matching.
search_again = function(id)
  if redis.call('HGET', session_key(id), 'away') == '1' then leave(id) else search(id) end
end

-- Forgets every session of node `n`, which stopped beating (or is starting over).
local function reap(n)
  for _, id in ipairs(redis.call('SMEMBERS', members_key(n))) do leave(id) end
  redis.call('DEL', members_key(n))
  redis.call('SREM', NODES, n)
end

-- The record of a session of this node, made when it first presses Call (or Next); `addr`
-- is whom a report about it concerns, `visitor` who it is for blocks.
local function ensure_session(id, addr, visitor)
  local k = session_key(id)
  if redis.call('EXISTS', k) == 0 then
    redis.call('HSET', k, 'node', node, 'state', 'idle', 'tags', '[]', 'text', '0', 'gen', 0,
      'open', '0')
    redis.call('SADD', members_key(node), id)
  end
  visitor = visitor or {}
  redis.call('HSET', k, 'addr', addr, 'vk', visitor.key or '', 'vh', visitor.addr or '')
end

-- Replies, as Rust's `script::Reply` reads them.
local OK = cjson.encode('ok')
local GONE = cjson.encode('gone')
local function refused(code) return cjson.encode({ refused = code }) end

local ops = {}

-- A node starts, or starts over after losing Redis: whatever Redis still holds of its
-- sessions is forgotten (their partners elsewhere are told), then it beats.
function ops.hello()
  reap(node)
  redis.call('SET', alive_key(node), cmd.online, 'PX', cmd.ttl_ms)
  redis.call('SADD', NODES, node)
  return OK
end

-- A node shuts down: its sessions are forgotten at once (partners elsewhere are told) rather
-- than when its heartbeat would have expired.
function ops.bye()
  reap(node)
  redis.call('DEL', alive_key(node))
  return OK
end

-- The heartbeat: refreshes this node's online count and time to live, forgets nodes that
-- stopped beating, and returns the whole site's online count (or node_lost when this node's
-- own heartbeat had already expired: it must say hello again).
function ops.beat()
  if not redis.call('SET', alive_key(node), cmd.online, 'PX', cmd.ttl_ms, 'XX') then
    return cjson.encode('node_lost')
  end
  redis.call('SADD', NODES, node)
  local total = 0
  for _, n in ipairs(redis.call('SMEMBERS', NODES)) do
    local count = redis.call('GET', alive_key(n))
    if count then total = total + tonumber(count) else reap(n) end
  end
  return cjson.encode({ online = total })
end

-- A tab closed. Only the session's own node speaks for it: once its tab came back on another
-- node (ops.adopt), the node it left no longer does.
function ops.leave()
  local owner = redis.call('HGET', session_key(cmd.session), 'node')
  if owner and owner ~= node then return OK end
  leave(cmd.session)
  return OK
end

-- Call pressed, with its preferences; ignored unless idle.
function ops.call()
  local id = cmd.session
  ensure_session(id, cmd.addr, cmd.visitor)
  if redis.call('HGET', session_key(id), 'state') ~= 'idle' then return OK end
  local tags = #cmd.interests == 0 and '[]' or cjson.encode(cmd.interests)
  redis.call('HSET', session_key(id), 'tags', tags, 'text', cmd.text_only and '1' or '0',
    'lang', cmd.language or '')
  search(id)
  return OK
end

-- Next: leave the call (the partner searches too) and search; or search from idle.
function ops.next()
  local id = cmd.session
  ensure_session(id, cmd.addr, cmd.visitor)
  local state = redis.call('HGET', session_key(id), 'state')
  if state == 'call' then
    -- The one who pressed Next searches first, so a waiting stranger meets them.
    local partner = hang_up(id, 'partner_next')
    search(id)
    if partner then search_again(partner) end
  elseif state == 'idle' then
    search(id)
  end
  return OK
end

-- End: leave the call or the search and stay idle; the partner searches again.
ops['end'] = function()
  local id = cmd.session
  if redis.call('EXISTS', session_key(id)) == 0 then
    -- Never pressed Call: nothing to end, but End is still confirmed.
    emit(node, { ev = 'idle', to = id })
    return OK
  end
  local partner = hang_up(id, 'partner_ended')
  leave_pool(id)
  redis.call('HSET', session_key(id), 'state', 'idle')
  emit(node, { ev = 'idle', to = id })
  if partner then search_again(partner) end
  return OK
end

-- A side's connection reached `connected`: the first report per call wins, both are told.
function ops.connected()
  local id, call, role = cmd.session, cmd.call, cmd.role
  local rec = redis.call('HMGET', session_key(id), 'state', 'call', 'partner')
  if rec[1] ~= 'call' then return refused('not_in_call') end
  if rec[2] ~= call then return refused('stale_call') end
  local partner = rec[3]
  local offerer = role == 'peer1' and id or partner
  if redis.call('HSETNX', call_key(call), 'winner', offerer) == 1 then
    for _, side in ipairs({ id, partner }) do
      emit(redis.call('HGET', session_key(side), 'node'), { ev = 'winner', to = side,
        call = call, role = side == offerer and 'peer1' or 'peer2' })
    end
  end
  return OK
end

-- The connect timeout of `call` ran out: unless it connected (or is text-only), both sides
-- are told and search again.
function ops.expire()
  local call = cmd.call
  local c = redis.call('HMGET', call_key(call), 'a', 'b', 'winner', 'text')
  if not c[1] or c[3] or c[4] == '1' then return OK end
  redis.call('DEL', call_key(call))
  for _, pair_of in ipairs({ { c[1], c[2] }, { c[2], c[1] } }) do
    local side, other = pair_of[1], pair_of[2]
    local side_node = redis.call('HGET', session_key(side), 'node')
    if side_node then
      call_over(side, other)
      emit(side_node, { ev = 'ended', to = side, call = call, reason = 'connect_timeout' })
    end
  end
  search_again(c[1])
  search_again(c[2])
  return OK
end

-- The tab of `session` lost its socket in a call and may come back (memory.rs, Op::Away).
function ops.away()
  local k = session_key(cmd.session)
  if redis.call('HGET', k, 'state') == 'call' then redis.call('HSET', k, 'away', '1') end
  return OK
end

-- The tab of `session` is back with a new socket: not away any more; the call stands.
function ops.back()
  redis.call('HDEL', session_key(cmd.session), 'away')
  return OK
end

-- `session` races its call's connections anew: the winner is forgotten.
function ops.rejoin()
  redis.call('HDEL', session_key(cmd.session), 'away')
  redis.call('HDEL', call_key(cmd.call), 'winner')
  return OK
end

-- The tab of `session`, away in a call, may come back on another node: what that node needs to
-- take the session over is kept under the tab's resume token for the grace.
function ops.linger()
  local k = KEY.resume .. cmd.token
  redis.call('HSET', k, 'session', cmd.session, 'visitor', cmd.visitor, 'record', cmd.record)
  redis.call('PEXPIRE', k, cmd.ttl_ms)
  return OK
end

-- A tab came back to this node with the resume token of a session that lingers on another.
-- If the browser's key is the session's and it is still away in its call, this node takes it
-- over: the node it left forgets it, the partner's node learns where it is now. A wrong key
-- spends nothing (the owner may still come).
function ops.adopt()
  local k = KEY.resume .. cmd.token
  local kept = redis.call('HMGET', k, 'session', 'visitor', 'record')
  if not kept[1] or kept[2] ~= cmd.visitor then return GONE end
  redis.call('DEL', k)
  local id = kept[1]
  local s = redis.call('HMGET', session_key(id), 'node', 'state', 'away', 'call', 'partner')
  local old, call, partner = s[1], s[4], s[5]
  if s[2] ~= 'call' or s[3] ~= '1' or not old or old == node then return GONE end
  local partner_node = redis.call('HGET', session_key(partner), 'node')
  if not partner_node then return GONE end
  redis.call('HSET', session_key(id), 'node', node)
  redis.call('SREM', members_key(old), id)
  redis.call('SADD', members_key(node), id)
  emit(old, { ev = 'moved', to = id })
  emit(partner_node, { ev = 'partner_moved', to = partner, call = call, node = node })
  return cjson.encode({ adopted = { record = kept[3], partner_node = partner_node } })
end

-- The preference wait of search number `search` is over: from now on it takes anyone.
function ops.open()
  local id = cmd.session
  local rec = redis.call('HMGET', session_key(id), 'state', 'gen', 'open', 'last')
  if rec[1] ~= 'searching' or tonumber(rec[2]) ~= cmd.search or rec[3] == '1' then return OK end
  redis.call('HSET', session_key(id), 'open', '1')
  local other = pick(id, true, nil, rec[4])
  if other then pair(id, other) else redis.call('SADD', OPEN, id) end
  return OK
end

-- Visitor key `by` never meets `stranger` again, until `until`. The record expires with its
-- latest block; blocks that ended are dropped whenever the same visitor blocks again.
function ops.block()
  if cmd.by == '' then return OK end
  local k = KEY.blocks .. cmd.by
  local now = tonumber(redis.call('TIME')[1])
  local mine = redis.call('HGETALL', k)
  local latest = cmd['until']
  for i = 1, #mine, 2 do
    local until_then = tonumber(mine[i + 1])
    if until_then <= now then redis.call('HDEL', k, mine[i]) end
    if until_then > latest then latest = until_then end
  end
  for _, t in ipairs(targets(cmd.stranger.key, cmd.stranger.addr)) do
    local before = tonumber(redis.call('HGET', k, t) or '0')
    redis.call('HSET', k, t, math.max(before, cmd['until']))
  end
  if redis.call('EXISTS', k) == 1 then redis.call('EXPIREAT', k, latest) end
  return OK
end

-- Visitor key `by` clears every block it made; its `session`, if searching, looks again at
-- once (it may take strangers it would not before), without starting over.
function ops.unblock()
  redis.call('DEL', KEY.blocks .. cmd.by)
  local id = cmd.session
  local rec = redis.call('HMGET', session_key(id), 'state', 'open', 'last')
  if rec[1] ~= 'searching' then return OK end
  local other = pick(id, rec[2] == '1', preferences(id), rec[3], true)
  if other then pair(id, other) end
  return OK
end

local run = ops[op]
if not run then return redis.error_reply('unknown op ' .. tostring(op)) end
-- A node whose heartbeat expired may have been reaped: it must start over, not act.
if op ~= 'hello' and op ~= 'beat' and op ~= 'bye' and not alive(node) then
  return cjson.encode('node_lost')
end
local result = run()
flush()
return result
