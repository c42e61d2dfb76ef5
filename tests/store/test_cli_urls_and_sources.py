"""Read-only store commands on a missing SQLite file, and write_source's accepted types.

Was: ``prodml store views --offline URL --online sqlite:///missing.db`` created
``missing.db`` and printed "(empty)" (a typo in the path looked like an empty store), and
``PostgresOfflineStore.write_source`` took a pandas DataFrame to a raw ``AttributeError``
(DuckDB's took it), while DuckDB's refusal of a Dask frame said "got DataFrame".
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from prodml.cli import main
from prodml.errors import ConfigError
from prodml.store.backends import offline_store_for


@pytest.mark.parametrize("action", [["views"], ["online", "--entity", "{}", "--feature", "v:f"]])
def test_a_read_on_a_missing_sqlite_file_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], action: list[str]
) -> None:
    missing = tmp_path / "typo" / "online.db"
    argv = ["store", action[0], "--offline", "duckdb://", "--online", f"sqlite:///{missing}"]
    assert main(argv + action[1:]) == 2
    err = capsys.readouterr().err
    assert "no online store at" in err
    assert "online.db" in err
    assert not missing.exists()
    assert not missing.parent.exists()


def test_apply_may_create_the_sqlite_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    defs = tmp_path / "defs.json"
    defs.write_text("[]")
    online = tmp_path / "new" / "online.db"
    argv = ["--offline", "duckdb://", "--online", f"sqlite:///{online}"]
    assert main(["store", "apply", *argv, "--file", str(defs)]) == 0
    assert online.exists()
    capsys.readouterr()
    assert main(["store", "views", *argv]) == 0  # now it exists: an empty store
    assert "(empty)" in capsys.readouterr().out


FRAME = pd.DataFrame(
    {"k": [1, 2], "ts": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True), "v": [1.0, 2.0]},
    index=[10, 11],
)


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_write_source_takes_pandas_and_arrow_and_names_other_types(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "duckdb":
        store = offline_store_for(f"duckdb:///{tmp_path / 'off'}")
    else:
        store = offline_store_for(request.getfixturevalue("postgres_url"))
    name = "src38"
    store.write_source(name, FRAME, timestamp="ts")  # the index is not written
    store.write_source(name, pa.Table.from_pandas(FRAME, preserve_index=False), timestamp="ts")

    class DataFrame:  # another library's frame with the same short name (e.g. Dask's)
        __module__ = "dask.dataframe"
        __qualname__ = "DataFrame"

    for value, shown in ((DataFrame(), "dask.DataFrame"), ([1, 2], "list")):
        with pytest.raises(ConfigError, match=f"got {shown}$") as info:
            store.write_source(name, value, timestamp="ts")
        assert info.value.parameter == "table"
    store.close()
