"""Tests of labkit.storage: writing the two layouts, reading a query from each, measuring."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit import storage


@pytest.fixture
def log():
    rng = np.random.default_rng(0)
    n = 3000
    return pd.DataFrame({
        "event_id": np.arange(n),
        "day": np.sort(rng.integers(0, 21, n)),
        "user_id": rng.integers(0, 50, n),
        "location": pd.Categorical(rng.choice(["home", "work", None], n)),
        "battery": np.where(rng.random(n) < 0.1, np.nan, rng.integers(1, 101, n)),
        "app_id": rng.integers(0, 30, n),
    })


@pytest.fixture
def written(log, tmp_path):
    return (storage.write_csv(log, tmp_path / "log.csv"),
            storage.write_parquet_partitioned(log, tmp_path / "log"))


def test_write_csv_round_trips(log, tmp_path):
    path = storage.write_csv(log, tmp_path / "log.csv")
    back = pd.read_csv(path)
    assert list(back.columns) == list(log.columns)
    assert back["app_id"].tolist() == log["app_id"].tolist()


def test_parquet_has_one_folder_per_day_with_fixed_names(log, written):
    _, folder = written
    days = sorted(int(p.name.split("=")[1]) for p in folder.iterdir())
    assert days == sorted(log["day"].unique().tolist())
    assert all([f.name for f in (folder / f"day={d}").iterdir()] == ["part-0.parquet"]
               for d in days)


def test_parquet_is_smaller_than_csv_unless_its_files_are_tiny(log, tmp_path):
    # Thousands of rows per file: typed, compressed columns win.
    big = pd.concat([log] * 10, ignore_index=True).assign(day=lambda f: f["day"] % 3)
    assert storage.disk_size(storage.write_parquet_partitioned(big, tmp_path / "big")) \
        < storage.disk_size(storage.write_csv(big, tmp_path / "big.csv"))
    # About 140 rows per daily file: each file's metadata outweighs its data.
    assert storage.disk_size(storage.write_parquet_partitioned(log, tmp_path / "small")) \
        > storage.disk_size(storage.write_csv(log, tmp_path / "small.csv"))


def test_disk_size_adds_up_files(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_bytes(b"12345")
    (tmp_path / "y").write_bytes(b"123")
    assert storage.disk_size(tmp_path) == 8
    assert storage.disk_size(tmp_path / "y") == 3
    with pytest.raises(FileNotFoundError):
        storage.disk_size(tmp_path / "nothing")
    with pytest.raises(TypeError):
        storage.disk_size(3)


@pytest.mark.parametrize("columns", [["user_id", "app_id"], ["battery"], ["location"],
                                     ["day", "app_id"]])
@pytest.mark.parametrize("days", [[7, 8, 9, 10, 11, 12, 13], [0], [20, 3]])
def test_both_layouts_answer_a_query_like_pandas(log, written, columns, days):
    expected = log.loc[log["day"].isin(days), columns].reset_index(drop=True)
    csv, folder = written
    for fmt, path in (("csv", csv), ("parquet", folder)):
        got = storage.read_columns(fmt, path, columns, "day", days)
        assert list(got.columns) == columns
        for col in columns:
            # CSV loses types (a category comes back as text): compare the values.
            assert got[col].astype(str).tolist() == expected[col].astype(str).tolist(), \
                (fmt, col)


def test_parquet_keeps_types_csv_does_not(log, written):
    csv, folder = written
    from_parquet = storage.read_columns("parquet", folder, ["location"], "day", [1])
    from_csv = storage.read_columns("csv", csv, ["location"], "day", [1])
    assert isinstance(from_parquet["location"].dtype, pd.CategoricalDtype)
    assert not isinstance(from_csv["location"].dtype, pd.CategoricalDtype)


def test_a_query_for_absent_days_is_empty_in_both(written):
    csv, folder = written
    for fmt, path in (("csv", csv), ("parquet", folder)):
        got = storage.read_columns(fmt, path, ["app_id", "day"], "day", [99])
        assert got.empty and list(got.columns) == ["app_id", "day"]


def test_parquet_reads_only_the_requested_partitions(log, written, monkeypatch):
    _, folder = written
    import pyarrow.parquet as pq

    opened = []
    real = pq.ParquetFile

    def spy(source, *args, **kwargs):
        opened.append(Path(source).parent.name)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(pq, "ParquetFile", spy)
    storage.read_columns("parquet", folder, ["app_id"], "day", [3, 4])
    assert sorted(opened) == ["day=3", "day=4"]


def test_writers_refuse_to_overwrite_and_bad_input(log, tmp_path):
    storage.write_csv(log, tmp_path / "log.csv")
    with pytest.raises(FileExistsError, match="already exists"):
        storage.write_csv(log, tmp_path / "log.csv")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        storage.write_csv(log, tmp_path / "no" / "log.csv")
    with pytest.raises(TypeError, match="DataFrame"):
        storage.write_csv(log.to_numpy(), tmp_path / "other.csv")
    with pytest.raises(ValueError, match="empty"):
        storage.write_csv(log.iloc[:0], tmp_path / "other.csv")
    with pytest.raises(ValueError, match="not a column"):
        storage.write_parquet_partitioned(log, tmp_path / "p", partition_col="week")
    with pytest.raises(ValueError, match="missing values"):
        storage.write_parquet_partitioned(log.assign(day=np.nan), tmp_path / "q")
    with pytest.raises(TypeError, match="path"):
        storage.write_parquet_partitioned(log, 42)


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(fmt="json"), ValueError, "fmt"),
    (dict(columns="app_id"), TypeError, "list of column names"),
    (dict(columns=[]), TypeError, "list of column names"),
    (dict(columns=[1]), TypeError, "list of column names"),
    (dict(values=[]), TypeError, "non-empty list"),
    (dict(values="7"), TypeError, "non-empty list"),
    (dict(values=[1.5]), TypeError, "integer"),
    (dict(where_col=3), TypeError, "where_col"),
])
def test_read_columns_rejects_bad_queries(written, kwargs, error, words):
    csv, _ = written
    query = dict(fmt="csv", path=csv, columns=["app_id"], where_col="day", values=[1])
    query.update(kwargs)
    with pytest.raises(error, match=words):
        storage.read_columns(**query)


def test_read_columns_needs_existing_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="write the data first"):
        storage.read_columns("csv", tmp_path / "nothing.csv", ["a"], "day", [1])


@settings(max_examples=30, deadline=None)
@given(st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=4),
                 st.lists(st.integers(), max_size=3), st.dictionaries(st.text(), st.integers())))
def test_read_columns_bad_values_get_a_clear_error(values):
    with pytest.raises((TypeError, ValueError, FileNotFoundError)) as info:
        storage.read_columns("csv", "/nonexistent/log.csv", ["a"], "day", values)
    assert str(info.value)


def test_time_read_counts_both_clocks(written):
    csv, _ = written
    for clock in ("cpu", "wall"):
        seconds = storage.time_read("csv", csv, ["app_id"], "day", [1], repeats=2, clock=clock)
        assert 0 < seconds < 5
    with pytest.raises(ValueError, match="clock"):
        storage.time_read("csv", csv, ["app_id"], "day", [1], clock="gpu")
    with pytest.raises(ValueError, match="repeats"):
        storage.time_read("csv", csv, ["app_id"], "day", [1], repeats=0)


def test_measure_read_runs_in_a_fresh_process_and_sees_the_memory(tmp_path):
    # A CSV read of this width has to hold every row of the kept columns: tens of MiB.
    n = 400_000
    frame = pd.DataFrame({"day": np.repeat(np.arange(40), n // 40),
                          "a": np.arange(n), "b": np.arange(n) * 2})
    csv = storage.write_csv(frame, tmp_path / "big.csv")
    measured = storage.measure_read("csv", csv, ["a", "b"], "day", list(range(40)),
                                    repeats=1)
    assert measured.rows == n
    assert measured.seconds > 0 and measured.cpu_seconds > 0
    if sys.platform.startswith("linux"):
        assert measured.memory_method == "clear_refs"
    # The result alone is two int64 columns: 6.1 MiB; the read holds more than that.
    assert measured.peak_mb > 6
    assert storage.ReadMeasurement(**measured.to_dict()) == measured


def test_measure_read_reports_a_failing_child(written, monkeypatch):
    csv, _ = written
    monkeypatch.setattr(storage, "_CHILD", "raise SystemExit('boom')")
    with pytest.raises(RuntimeError, match="measuring process failed"):
        storage.measure_read("csv", csv, ["app_id"], "day", [1])
