"""Admission for a cluster: admission.py's rule enforced in Redis (one Lua script, the mirror of refusal()),
so the budgets hold for every API process together. Synchronous like Admission: each call is one short Lua script.

Each place is a ticket kept with its job: fsv3:tickets maps a job's id to what it holds ("pixels nbytes
reserved_at", then "... stored" once the job is in Redis), and fsv3:admission holds their sums. A ticket is
given back once, by whichever path ends its job first (the worker's finish script, a worker that finds the
job gone, the API when queueing fails), and reconcile() sets the sums again from the tickets whose jobs still
live: a job whose hour ran out in the queue (arq drops it without calling us) or an API process killed
between reserving and queueing gives its place back there."""

from __future__ import annotations

import uuid

from ..pipeline.job_contract import FINISHED
from .admission import ADMITTED, BYTES_FULL, PIXELS_FULL, QUEUE_FULL, ServerLimits, Ticket, busy

ADMISSION_KEY = "fsv3:admission"
TICKETS_KEY = "fsv3:tickets"
JOB_PREFIX = "fsv3:job:"
WAITER_PREFIX = "fsv3:waiter:"
INPUT_PREFIX = "fsv3:input:"
CLUSTER = " across the cluster"
UNSTORED_GRACE_S = 120  # a ticket whose job was never stored (its API process died) goes after this long


def stored_ticket(ticket: Ticket) -> str:
    """A ticket's value once its job is in Redis (reconcile() then follows the job's own state)."""
    return f"{ticket.pixels} {ticket.nbytes} 0 stored"


def give_back_lua(tickets: str, admission: str, request_id: str) -> str:
    """Lua that gives a job's place back if its ticket is still held (sets `given`): once, whoever calls it."""
    return f"""
local given = false
local ticket = redis.call('HGET', {tickets}, {request_id})
if ticket then
  redis.call('HDEL', {tickets}, {request_id})
  local pixels, nbytes = string.match(ticket, '^(%d+) (%d+)')
  redis.call('HINCRBY', {admission}, 'jobs', -1)
  redis.call('HINCRBY', {admission}, 'pixels', -tonumber(pixels or '0'))
  redis.call('HINCRBY', {admission}, 'nbytes', -tonumber(nbytes or '0'))
  given = true
end
"""


# KEYS: tickets, admission. ARGV: request id. Returns 1 when a place was given back.
GIVE_BACK = give_back_lua("KEYS[1]", "KEYS[2]", "ARGV[1]") + "\nif given then return 1 end\nreturn 0\n"

# KEYS: admission, tickets. ARGV: pixels, nbytes, max_jobs, max_pixels, max_bytes, force, ticket id. Returns
# {refused (admission.py's codes), jobs, pixels, nbytes} as counted before this request.
_RESERVE = f"""
local held = redis.call('HMGET', KEYS[1], 'jobs', 'pixels', 'nbytes')
local jobs, pixels, nbytes = tonumber(held[1] or '0'), tonumber(held[2] or '0'), tonumber(held[3] or '0')
if ARGV[6] == '0' then
  if jobs >= tonumber(ARGV[3]) then return {{{QUEUE_FULL}, jobs, pixels, nbytes}} end
  if jobs > 0 and pixels + tonumber(ARGV[1]) > tonumber(ARGV[4]) then return {{{PIXELS_FULL}, jobs, pixels, nbytes}} end
  if jobs > 0 and nbytes + tonumber(ARGV[2]) > tonumber(ARGV[5]) then return {{{BYTES_FULL}, jobs, pixels, nbytes}} end
end
redis.call('HINCRBY', KEYS[1], 'jobs', 1)
redis.call('HINCRBY', KEYS[1], 'pixels', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'nbytes', ARGV[2])
redis.call('HSET', KEYS[2], ARGV[7], ARGV[1] .. ' ' .. ARGV[2] .. ' ' .. redis.call('TIME')[1])
return {{{ADMITTED}, jobs, pixels, nbytes}}
"""

_FINISHED = " or ".join(f"state == '{state}'" for state in sorted(FINISHED))
# KEYS: tickets, admission. ARGV: job key prefix, grace for unstored tickets (s), v1 waiter key prefix, input key
# prefix. A ticket lives while its job is unfinished (and, for a v1 job, someone still waits for it), or, never
# stored, for the grace; the others go (a v1 job nobody waits for goes with its ticket), and the sums are set from
# those that live. Returns how many tickets went.
_RECONCILE = f"""
local now = tonumber(redis.call('TIME')[1])
local all = redis.call('HGETALL', KEYS[1])
local jobs, pixels, nbytes, gone = 0, 0, 0, 0
for i = 1, #all, 2 do
  local id = all[i]
  local p, b, at, stored = string.match(all[i + 1], '^(%d+) (%d+) (%d+) ?(%a*)$')
  local lives = false
  if p then
    local state = redis.pcall('HGET', ARGV[1] .. id, 'state')
    if type(state) == 'string' then
      lives = not ({_FINISHED})
      if lives and redis.call('HGET', ARGV[1] .. id, 'v1') == '1' and redis.call('EXISTS', ARGV[3] .. id) == 0 then
        redis.call('DEL', ARGV[1] .. id, ARGV[4] .. id)
        lives = false
      end
    elseif state == false then
      lives = stored == '' and now - tonumber(at) < tonumber(ARGV[2])
    end
  end
  if lives then
    jobs, pixels, nbytes = jobs + 1, pixels + tonumber(p), nbytes + tonumber(b)
  else
    redis.call('HDEL', KEYS[1], id)
    gone = gone + 1
  end
end
redis.call('HSET', KEYS[2], 'jobs', jobs, 'pixels', pixels, 'nbytes', nbytes)
return gone
"""


class RedisAdmission:
    def __init__(self, url: str, limits: ServerLimits, socket_timeout_s: float = 2.0,
                 unstored_grace_s: int = UNSTORED_GRACE_S) -> None:
        import redis

        self.url, self.limits, self.unstored_grace_s = url, limits, unstored_grace_s
        self.redis = redis.Redis.from_url(url, socket_timeout=socket_timeout_s,
                                          socket_connect_timeout=socket_timeout_s)
        self._reserve = self.redis.register_script(_RESERVE)
        self._give_back = self.redis.register_script(GIVE_BACK)
        self._reconcile = self.redis.register_script(_RECONCILE)

    @property
    def jobs(self) -> int:
        return int(self._guarded(self.redis.hget, ADMISSION_KEY, "jobs") or 0)

    def check_room(self) -> None:
        if self.jobs >= self.limits.max_jobs:
            raise busy(QUEUE_FULL, self.limits, 0, 0, CLUSTER)

    def reserve(self, pixels: int, nbytes: int, force: bool = False) -> Ticket:
        """A place for a job, held by a ticket whose id becomes the job's request id."""
        limits, ticket_id = self.limits, str(uuid.uuid4())
        refused, _, held_pixels, held_bytes = self._guarded(
            self._reserve, keys=[ADMISSION_KEY, TICKETS_KEY],
            args=[pixels, nbytes, limits.max_jobs, limits.max_queued_pixels, limits.max_queued_bytes, int(force),
                  ticket_id])
        if refused != ADMITTED:
            raise busy(refused, limits, held_pixels, held_bytes, CLUSTER)
        return Ticket(pixels, nbytes, ticket_id)

    def release(self, ticket: Ticket) -> None:
        """Give the ticket's place back, once (a second release, or one after its job ended, does nothing)."""
        self._guarded(self._give_back, keys=[TICKETS_KEY, ADMISSION_KEY], args=[ticket.id])

    def reconcile(self) -> int:
        """Set the counts again from the tickets whose jobs still live; how many tickets went."""
        return int(self._guarded(self._reconcile, keys=[TICKETS_KEY, ADMISSION_KEY],
                                 args=[JOB_PREFIX, self.unstored_grace_s, WAITER_PREFIX, INPUT_PREFIX]))

    def _guarded(self, call, *args, **kwargs):
        from .redis_store import guarded

        return guarded(self.url, call, *args, **kwargs)
