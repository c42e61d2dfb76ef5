"""Two registry handles on one database, registering and moving aliases from threads.

Each handle is shared by two threads; the threads start together (``threading.Barrier``)
and switch every microsecond. Versions must come out dense and unique, the audit log must
hold every move (each naming the version the previous move set), and the alias must end
on the version of the last move in the log (``run_together``, a fixture of
tests/conftest.py, starts the threads). SQLite (one file) always; PostgreSQL from
``PRODML_TEST_POSTGRES_URL``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def _register_and_move(reg: Any, k: int, n: int, schema: Any) -> Callable[[], list[int]]:
    def run() -> list[int]:
        mine = []
        for _ in range(n):
            mv = reg.register("m", schema, tags={"w": str(k)})
            mine.append(mv.version)
            reg.set_alias("m", "production", mv.version)
            reg.set_alias("m", f"w{k}", mv.version)
        return mine

    return run


def _two_handles(url: str, art: str) -> list[Any]:
    from prodml.registry import ModelRegistry

    return [ModelRegistry(url, art, actor=f"h{i}") for i in range(2)]


def _run_registry(regs: list[Any], n: int, run_together: Callable[..., None]) -> None:
    from prodml.schema import Column, Schema

    schema = Schema([Column("x", "float")])
    regs[0].register("m", schema)  # the model row exists before the threads start
    made: list[list[int]] = [[1]]
    results: dict[int, list[int]] = {}
    workers = []
    for k in range(4):
        fn = _register_and_move(regs[k % 2], k + 1, n, schema)
        workers.append(lambda k=k, fn=fn: results.__setitem__(k, fn()))
    regs[0].set_alias("m", "production", 1)
    regs[0].set_alias("m", "w0", 1)
    run_together(workers)
    made += [results[k] for k in range(4)]
    for mine in made:
        assert mine == sorted(mine)  # one handle's versions come in order
    versions = sorted(v for m in made for v in m)
    assert versions == list(range(1, 4 * n + 2))
    _check_registry_moves(regs, made)


def _check_registry_moves(regs: list[Any], made: list[list[int]]) -> None:
    reg = regs[0]
    versions = sorted(v for m in made for v in m)
    events = []
    token = None
    while True:
        page = reg.history("m", page_size=100, page_token=token)
        events += page.items
        token = page.next_token
        if token is None:
            break
    assert len({e.seq for e in events}) == len(events)
    assert sorted(e.version for e in events if e.action == "register") == versions
    prod = sorted((e for e in events if e.alias == "production"), key=lambda e: e.seq)
    assert len(prod) == len(versions)  # every move is in the audit log
    assert prod[0].previous_version is None
    assert [e.previous_version for e in prod[1:]] == [e.version for e in prod[:-1]]
    final = reg.get("m@production").version
    assert final == prod[-1].version  # the last move stands
    assert final in versions
    for k, mine in enumerate(made):
        assert reg.get(f"m@w{k}").version == mine[-1]
    for other in regs[1:]:
        assert other.get("m@production").version == final
    listed: list[int] = []
    token = None
    while True:
        vpage = reg.search("m", page_size=100, page_token=token)
        listed += [mv.version for mv in vpage]
        token = vpage.next_token
        if token is None:
            break
    assert sorted(listed) == versions


def test_two_registry_handles_on_one_sqlite_file(
    tmp_path: Path, run_together: Callable[..., None]
) -> None:
    regs = _two_handles(f"sqlite:///{tmp_path}/r.db", f"file://{tmp_path}/art")
    try:
        _run_registry(regs, 8, run_together)
    finally:
        for r in regs:
            r.close()


def test_two_registry_handles_on_one_postgres_schema(
    tmp_path: Path, postgres_url: str, run_together: Callable[..., None]
) -> None:
    regs = _two_handles(postgres_url, f"file://{tmp_path}/art")
    try:
        _run_registry(regs, 8, run_together)
    finally:
        for r in regs:
            r.close()


def test_handles_opened_together_on_one_memory_name_share_one_store(
    run_together: Callable[..., None],
) -> None:
    """``memory://NAME`` opened by several threads at once, read-only views included.

    A read-only view copies the shared store's state when it is opened; opened while
    another thread was still setting the store up, it used to copy nothing and keep an
    empty store of its own for good.
    """
    import uuid

    from prodml.registry import ModelRegistry
    from prodml.schema import Column, Schema

    schema = Schema([Column("x", "float")])
    for _ in range(40):
        name = f"threads-{uuid.uuid4().hex}"
        handles: dict[int, Any] = {}

        def open_handle(k: int, name: str = name, handles: dict[int, Any] = handles) -> None:
            handles[k] = ModelRegistry(f"memory://{name}", f"memory://{name}-art", read_only=k == 0)

        run_together([lambda k=k: open_handle(k) for k in range(3)])
        handles[1].register("m", schema)
        handles[2].register("m", schema)
        assert [mv.version for mv in handles[0].search("m")] == [2, 1]
        assert handles[1].metadata._lock is handles[2].metadata._lock
