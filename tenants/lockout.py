"""One lockout for every way in: the login form (allauth) on any host, ``/admin/login/`` and the
API's token endpoint (``/api/v1/auth/token/``).

Failed attempts are counted in the app Redis (``core.redis``) under keys that carry neither the
host nor a company schema, so a company host (anyone can create one) never restarts a count:

- per account, by the lowercased email: ``key`` in ``LOGIN_FAILED_RATE`` (5 in 5 minutes);
- per client address: ``ip``, a looser limit (30 in 5 minutes). One person's typos then lock only
  their own account, not everyone behind the same office NAT, while one address cannot try
  many accounts.

The client address is ``REMOTE_ADDR``. The server (uvicorn ``--proxy-headers``) takes it from
``X-Forwarded-For`` only when the connection comes from a proxy listed in ``FORWARDED_ALLOW_IPS``
(see the Dockerfile), so a client cannot pick a new address for each guess.

An attempt is counted *before* the password is checked, in one atomic step with the check, so a
burst of parallel guesses cannot all slip through; it is taken back when the password was right
(successful logins do not count). The window slides: the lock ends when the oldest failure in it
is older than the window.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import re
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.utils.translation import ngettext_lazy

from core.redis import redis_client

logger = logging.getLogger("tenants.lockout")

KEY_PREFIX = "auth-lockout:"

ERR_ACCOUNT_LOCKED = ngettext_lazy(
    "Too many failed login attempts for this email address. Try again in %(minutes)d minute.",
    "Too many failed login attempts for this email address. Try again in %(minutes)d minutes.",
    "minutes",
)
ERR_ADDRESS_LOCKED = ngettext_lazy(
    "Too many failed login attempts from your network. Try again in %(minutes)d minute.",
    "Too many failed login attempts from your network. Try again in %(minutes)d minutes.",
    "minutes",
)
_RATE_RE = re.compile(r"^(\d+)/(\d*)([smhd])/(key|ip)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    amount: int
    seconds: int
    per: str  # "key" (the account) or "ip"


@lru_cache(maxsize=4)
def _parse(spec: str) -> tuple[Rate, ...]:
    rates = []
    for part in spec.split(","):
        match = _RATE_RE.match(part.strip())
        if match is None:
            raise ValueError(f"LOGIN_FAILED_RATE: {part!r} is not like 5/5m/key or 30/5m/ip")
        amount, count, unit, per = match.groups()
        rates.append(Rate(int(amount), int(count or 1) * _UNITS[unit], per))
    if {r.per for r in rates} != {"key", "ip"}:
        raise ValueError("LOGIN_FAILED_RATE needs one rate per account (key) and one per address (ip)")
    return tuple(sorted(rates, key=lambda r: r.per != "key"))


def rates() -> tuple[Rate, ...]:
    """``(account rate, address rate)``."""
    return _parse(settings.LOGIN_FAILED_RATE)


class LockedOut(Exception):
    """Refused before the password is looked at."""

    def __init__(self, *, retry_after: int, scope: str):
        super().__init__(scope, retry_after)
        self.retry_after = max(1, int(retry_after))
        self.scope = scope  # "account" or "ip"

    def message(self) -> str:
        """The same words on the form, the admin and the API, in the active language."""
        message = ERR_ACCOUNT_LOCKED if self.scope == "account" else ERR_ADDRESS_LOCKED
        return str(message % {"minutes": max(1, math.ceil(self.retry_after / 60))})


def client_address(request) -> str:
    """``REMOTE_ADDR``; an IPv6 address counts for its /64 (one home or office network)."""
    raw = request.META.get("REMOTE_ADDR") or "unknown"
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
    return raw


def account_key(email: str) -> str:
    return KEY_PREFIX + "account:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()


def address_key(address: str) -> str:
    return KEY_PREFIX + "ip:" + address


# KEYS: account key, address key. ARGV: now, member, then amount and window of each key.
# Returns {0, count of each key after adding} when allowed, {i, seconds to wait} when key i is full.
_BEGIN = """
local now = tonumber(ARGV[1])
for i = 1, 2 do
  local amount, window = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if redis.call('ZCARD', KEYS[i]) >= amount then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    return {i, math.ceil(tonumber(oldest[2]) + window - now)}
  end
end
local counts = {0}
for i = 1, 2 do
  redis.call('ZADD', KEYS[i], now, ARGV[2])
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[2 + 2 * i]))
  counts[i + 1] = redis.call('ZCARD', KEYS[i])
end
return counts
"""


@dataclass
class Attempt:
    email: str
    address: str
    via: str
    member: str
    counts: tuple[int, int]

    def finish(self, *, success: bool) -> None:
        """Take the attempt back when the password was right; log when a failure locks."""
        keys = (account_key(self.email), address_key(self.address))
        if success:
            pipe = redis_client().pipeline()
            for key in keys:
                pipe.zrem(key, self.member)
            pipe.execute()
            return
        for rate, count, scope in zip(rates(), self.counts, ("account", "ip"), strict=True):
            if count == rate.amount:
                logger.warning(
                    "login lockout: %s locked for %ss after %s failures (email %r, address %s, via %s)",
                    scope,
                    rate.seconds,
                    count,
                    self.email,
                    self.address,
                    self.via,
                )


def begin(request, email: str, *, via: str) -> Attempt:
    """Count a login attempt for ``email`` from this request's address, or raise ``LockedOut``.
    ``via`` names the door in the log ("form", "admin", "api"). Call ``finish`` once the
    password was checked."""
    email = (email or "").strip().lower()
    address = client_address(request)
    account_rate, address_rate = rates()
    member = f"{time.time():.6f}:{secrets.token_hex(4)}"
    result = redis_client().eval(
        _BEGIN,
        2,
        account_key(email),
        address_key(address),
        time.time(),
        member,
        account_rate.amount,
        account_rate.seconds,
        address_rate.amount,
        address_rate.seconds,
    )
    which = int(result[0])
    if which:
        scope = "account" if which == 1 else "ip"
        logger.info("login refused: %s locked (email %r, address %s, via %s)", scope, email, address, via)
        raise LockedOut(retry_after=int(result[1]), scope=scope)
    return Attempt(email=email, address=address, via=via, member=member, counts=(int(result[1]), int(result[2])))


def clear_account(email: str) -> None:
    """Lift the lock of an account (its owner proved the mailbox with a password reset)."""
    redis_client().delete(account_key(email))
