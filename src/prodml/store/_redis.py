"""The Redis online store: one string per (view, entity key), read with one ``MGET``.

``redis://host:port/db`` (``rediss://`` for TLS), with an optional ``?prefix=NAME:``
that namespaces every key (several stores, or tests, can share one server). Each value
is ``version|event_us|created_us|json``; writes run a Lua script, so a batch applies the
write rule atomically. Needs the ``redis`` extra (``pip install 'prodml[redis]'``).

A server that cannot be reached, refuses the password, times out or refuses a write (a
replica, an ACL) raises :class:`~prodml.errors.ConfigError` naming the URL with its
password masked, as the PostgreSQL online store does; redis-py's error is the cause.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from prodml._extras import require
from prodml._quote import error_line
from prodml._secrets import redact_url
from prodml.errors import ConfigError, StateError
from prodml.store.online import OnlineRecord, OnlineStore, StoredValue

__all__ = ["RedisOnlineStore"]

_PREFIX = re.compile(r"[A-Za-z0-9_.:-]{0,64}")
# KEYS are the records' keys, ARGV their values; a record replaces the stored one when
# the versions differ, its (event, created) is greater, or equal with other values.
# Times are compared as decimal strings: Redis's Lua numbers are doubles, exact only to
# 2**53 microseconds (the year 2255), and two later instants 1 us apart would tie.
_WRITE = """
local function cmp(a, b)
  local na, nb = string.sub(a, 1, 1) == '-', string.sub(b, 1, 1) == '-'
  if na ~= nb then
    if na then return -1 else return 1 end
  end
  if na then a, b = string.sub(b, 2), string.sub(a, 2) end
  if #a ~= #b then
    if #a < #b then return -1 else return 1 end
  end
  if a == b then return 0 end
  if a < b then return -1 else return 1 end
end
local n = 0
for i, k in ipairs(KEYS) do
  local new = ARGV[i]
  local put = true
  local cur = redis.call('GET', k)
  if cur then
    local cv, ce, cc = string.match(cur, '^([^|]*)|(-?%d+)|(-?%d+)|')
    local nv, ne, nc = string.match(new, '^([^|]*)|(-?%d+)|(-?%d+)|')
    if cv == nv then
      local by_event = cmp(ne, ce)
      if by_event < 0 or (by_event == 0 and cmp(nc, cc) < 0) or new == cur then put = false end
    end
  end
  if put then
    redis.call('SET', k, new)
    n = n + 1
  end
end
return n
"""
# KEYS[1] the state hash; ARGV: field, "1" if a value is expected else "0", the expected
# value, the new value. Set (and 1) when the field holds the expected value, or none is
# expected and there is none.
_CAS = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local ok
if cur == false then ok = ARGV[2] == '0' else ok = ARGV[2] == '1' and cur == ARGV[3] end
if not ok then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
return 1
"""


class RedisOnlineStore(OnlineStore):
    """Online values in Redis.

    Parameters
    ----------
    url
        ``redis://[user:password@]host:port/db[?prefix=NAME:]``.
    """

    def __init__(self, url: str) -> None:
        if not isinstance(url, str) or urlsplit(url).scheme.lower() not in ("redis", "rediss"):
            raise ConfigError(f"not a redis:// URL: {str(url)[:40]!r}...", parameter="url")
        redis = require("redis", extra="redis", feature="The Redis online store")
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        prefix = query.pop("prefix", "prodml:")
        if not _PREFIX.fullmatch(prefix):
            raise ConfigError(
                f"Redis key prefix {prefix[:40]!r} must be 0-64 letters, digits or '_.:-'",
                parameter="url",
            )
        self.url = redact_url(url)
        self.prefix = prefix
        clean = urlunsplit(parts._replace(query=urlencode(query)))
        self._redis: Any = redis.Redis.from_url(clean, decode_responses=True)
        self._script = self._redis.register_script(_WRITE)
        self._cas = self._redis.register_script(_CAS)
        self._state = f"{prefix}__state"
        exc = redis.exceptions
        # The server's fault, not the caller's data: unreachable, a wrong password (an
        # AuthenticationError is a ConnectionError), too slow, a replica or an ACL saying no.
        self._failures: tuple[type[Exception], ...] = (
            exc.ConnectionError,
            exc.TimeoutError,
            exc.ReadOnlyError,
            exc.NoPermissionError,
        )

    def __repr__(self) -> str:
        return f"RedisOnlineStore({self.url!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self._redis.close()

    @contextlib.contextmanager
    def _reaching(self) -> Iterator[None]:
        """Turn redis-py's server failures inside the block into a ``ConfigError``."""
        try:
            yield
        except self._failures as err:
            reason = error_line(err, 200)
            password = self._redis.connection_pool.connection_kwargs.get("password")
            if password:
                reason = reason.replace(str(password), "***")
            raise ConfigError(
                f"cannot reach the Redis online store {self.url}: {reason}", parameter="url"
            ) from err

    def _key(self, view: str, key: str) -> str:
        return f"{self.prefix}{view}:{key}"

    def write(self, view: str, records: Sequence[OnlineRecord]) -> int:
        """Upsert ``records`` in one Lua script call (atomic)."""
        if not records:
            return 0
        keys = [self._key(view, r.key) for r in records]
        values = [f"{r.version}|{r.event_us}|{r.created_us}|{r.payload}" for r in records]
        with self._reaching():
            return int(self._script(keys=keys, args=values))

    def read(self, pairs: Sequence[tuple[str, str]]) -> list[StoredValue | None]:
        """One ``MGET`` for every (view, key) pair."""
        prefix = self.prefix
        with self._reaching():
            raw = self._redis.mget([f"{prefix}{view}:{key}" for view, key in pairs])
        out: list[StoredValue | None] = []
        for (view, _key), value in zip(pairs, raw, strict=True):
            if value is None:
                out.append(None)
                continue
            try:
                version, event, _, payload = value.split("|", 3)
                out.append(StoredValue(version, int(event), payload))
            except ValueError as err:  # read back: a value written by hand, or damaged
                raise StateError(
                    f"Redis value of online view {view!r} is damaged: not "
                    "'version|event_us|created_us|payload'. Materialize the view again.",
                    path=f"online.{view}",
                    owner="RedisOnlineStore",
                ) from err
        return out

    def get_state(self, name: str) -> str | None:
        """The state value under ``name``."""
        with self._reaching():
            value = self._redis.hget(self._state, name)
        return None if value is None else str(value)

    def set_state(self, name: str, value: str) -> None:
        """Replace the state value under ``name``."""
        with self._reaching():
            self._redis.hset(self._state, name, value)

    def compare_and_set_state(self, name: str, expected: str | None, value: str) -> bool:
        """One Lua script: atomic."""
        args = [name, "0" if expected is None else "1", expected or "", value]
        with self._reaching():
            return int(self._cas(keys=[self._state], args=args)) == 1

    def delete_view(self, view: str) -> int:
        """Delete the records of ``view`` (``SCAN`` + ``DEL``)."""
        pattern = self._key(view, "*").replace("[", "\\[")
        n = 0
        batch: list[str] = []
        with self._reaching():
            for key in self._redis.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    n += int(self._redis.delete(*batch))
                    batch = []
            if batch:
                n += int(self._redis.delete(*batch))
        return n
