"""Storing a log two ways, and measuring what a query costs in each.

Lab 04 writes the NextApp log as one CSV file (rows one after another, as text) and
as Parquet partitioned by day (one folder per day, columns stored apart, compressed,
typed), then reads *two columns of one week* from each and measures the time and the
memory the read takes.

How the memory is measured, and why that way
--------------------------------------------
A read allocates memory through several allocators: pandas' CSV parser through
``malloc``, numpy through its own hooks, pyarrow through its own memory pool (jemalloc
or mimalloc). :mod:`tracemalloc` sees only some of these, and pyarrow's pool statistics
see only pyarrow's, so neither compares a CSV read with a Parquet read fairly. The
operating system sees all of them: :func:`measure_read` runs each read in a **fresh
Python process** that first imports everything both readers need, then records its
resident set size (RSS), runs the read, and reports the **peak RSS increase** over that
baseline. On Linux the peak is reset just before the read (``/proc/self/clear_refs``),
so the import phase cannot hide in it; elsewhere the peak of the whole process
(``resource.getrusage``) is used, and the measurement says so. Memory that an allocator
keeps for reuse counts, as it would in a real job.

Times are the best of a few repeats (the first read also pays for opening files and
warming caches), as processor time (:func:`time.process_time`, all threads together:
other programs on a shared machine do not inflate it) or as elapsed wall-clock time.
Both vary from run to run and machine to machine: compare *ratios*, never raw values
across machines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ._validation import check_int

__all__ = ["FORMATS", "ReadMeasurement", "disk_size", "measure_read", "read_columns",
           "time_read", "write_csv", "write_parquet_partitioned"]

#: The storage formats :func:`read_columns` and :func:`measure_read` know.
FORMATS = ("csv", "parquet")


def _check_frame(frame: Any) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}.")
    if frame.empty:
        raise ValueError("frame is empty: there is nothing to write.")
    return frame


def _check_new_path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a pathlib.Path, got {type(path).__name__}.")
    path = Path(path)
    if path.exists() and (path.is_file() or any(path.iterdir())):
        raise FileExistsError(f"{path} already exists: write into a new, empty location "
                              "(e.g. a folder from tempfile.TemporaryDirectory()).")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"the folder {path.parent} does not exist; create it first.")
    return path


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``frame`` as one CSV file (no index column) and return its path.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table to write.
    path : str or Path
        A file that does not exist yet, in an existing folder.

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile
    >>> frame = pd.DataFrame({"day": [0, 0, 1], "app_id": [3, 1, 2]})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_csv(frame, Path(tmp) / "log.csv")
    ...     print(path.read_text().splitlines())
    ['day,app_id', '0,3', '0,1', '1,2']
    """
    frame = _check_frame(frame)
    path = _check_new_path(path)
    frame.to_csv(path, index=False)
    return path


def write_parquet_partitioned(frame: pd.DataFrame, folder: str | os.PathLike[str], *,
                              partition_col: str = "day") -> Path:
    """Write ``frame`` as Parquet, one sub-folder per value of ``partition_col``.

    The layout is Hive-style, ``folder/day=0/part-0.parquet``, ``folder/day=1/...``:
    a reader that filters on the partition column opens only the folders it needs.
    File names are fixed (``part-0.parquet``), so the same frame always gives the same
    files.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table to write; ``partition_col`` must be one of its columns, without
        missing values.
    folder : str or Path
        A folder that does not exist yet (or is empty), inside an existing folder.
    partition_col : str
        The column to partition by (default ``"day"``).

    Returns
    -------
    Path
        The dataset's folder.

    Examples
    --------
    >>> import tempfile
    >>> frame = pd.DataFrame({"day": [0, 0, 1], "app_id": [3, 1, 2]})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     folder = write_parquet_partitioned(frame, Path(tmp) / "log")
    ...     print(sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.parquet")))
    ['day=0/part-0.parquet', 'day=1/part-0.parquet']
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = _check_frame(frame)
    folder = _check_new_path(folder)
    if partition_col not in frame.columns:
        raise ValueError(f"partition_col {partition_col!r} is not a column of the frame; "
                         f"its columns are {list(frame.columns)}.")
    if frame[partition_col].isna().any():
        raise ValueError(f"the partition column {partition_col!r} has missing values; "
                         "every row needs a partition.")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_to_dataset(table, folder, partition_cols=[partition_col],
                        basename_template="part-{i}.parquet")
    return folder


def disk_size(path: str | os.PathLike[str]) -> int:
    """Bytes on disk of a file, or of every file under a folder.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = (Path(tmp) / "a.txt").write_text("12345")
    ...     disk_size(tmp)
    5
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a pathlib.Path, got {type(path).__name__}.")
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    if not path.is_dir():
        raise FileNotFoundError(f"{path} does not exist.")
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _check_query(fmt: Any, path: Any, columns: Any, where_col: Any,
                 values: Any) -> tuple[str, Path, list[str], str, list[int]]:
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}.")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a pathlib.Path, got {type(path).__name__}.")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; write the data first.")
    if isinstance(columns, str) or not isinstance(columns, Sequence) or not columns \
            or not all(isinstance(c, str) for c in columns):
        raise TypeError("columns must be a non-empty list of column names (strings), "
                        f"got {columns!r}.")
    if not isinstance(where_col, str):
        raise TypeError(f"where_col must be a column name, got {type(where_col).__name__}.")
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise TypeError(f"values must be a non-empty list of integers, got {values!r}.")
    values = [check_int("each of values", v) for v in values]
    return fmt, path, list(columns), where_col, values


def read_columns(fmt: str, path: str | os.PathLike[str], columns: Sequence[str],
                 where_col: str, values: Sequence[int]) -> pd.DataFrame:
    """Read ``columns`` of the rows whose ``where_col`` is in ``values``, as each format
    allows it best.

    * ``"csv"``: a CSV file has no index and no column boundaries, so the reader parses
      every line, keeps ``columns`` and ``where_col`` (pandas' ``usecols``) and filters
      afterwards.
    * ``"parquet"``: the reader opens only the folders of the partitions whose value is
      in ``values`` (``where_col=value``; no other folder is listed) and, in their
      files, only the column chunks of ``columns``.

    Parameters
    ----------
    fmt : {"csv", "parquet"}
    path : str or Path
        The CSV file, or the folder of a partitioned Parquet dataset.
    columns : list of str
        The columns to return.
    where_col : str
        The integer column to filter on (the partition column for Parquet).
    values : list of int
        The values of ``where_col`` to keep.

    Returns
    -------
    pandas.DataFrame
        ``columns`` of the matching rows with a fresh index: in file order for CSV,
        partition by partition (in increasing value) for Parquet, which is the same
        order when the CSV is sorted by ``where_col``.

    Examples
    --------
    >>> import tempfile
    >>> frame = pd.DataFrame({"day": [0, 1, 2, 2], "user_id": [5, 6, 7, 8],
    ...                       "app_id": [1, 2, 3, 4], "battery": [9.0, 8.0, 7.0, 6.0]})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     csv = write_csv(frame, Path(tmp) / "log.csv")
    ...     pq = write_parquet_partitioned(frame, Path(tmp) / "log")
    ...     a = read_columns("csv", csv, ["user_id", "app_id"], "day", [1, 2])
    ...     b = read_columns("parquet", pq, ["user_id", "app_id"], "day", [1, 2])
    >>> a.equals(b), a["user_id"].tolist()
    (True, [6, 7, 8])
    """
    fmt, path, columns, where_col, values = _check_query(fmt, path, columns, where_col,
                                                         values)
    if fmt == "csv":
        frame = pd.read_csv(path, usecols=list(dict.fromkeys([*columns, where_col])))
        frame = frame.loc[frame[where_col].isin(values), columns]
    else:
        frame = _read_partitions(path, columns, where_col, values)
    return frame.reset_index(drop=True)


def _read_partitions(folder: Path, columns: list[str], where_col: str,
                     values: list[int]) -> pd.DataFrame:
    """Read ``columns`` from the partition folders ``where_col=value`` only.

    Partition pruning by path: the layout names each partition's folder, so the folders
    of the requested values are opened and no other folder is even listed. Each file
    is read directly (column chunks of ``columns`` only), without pyarrow's dataset
    discovery, which would list every partition of the log first.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    stored = [c for c in columns if c != where_col]
    tables = []
    for value in sorted(set(values)):
        for file in sorted((folder / f"{where_col}={value}").glob("*.parquet")):
            table = pq.ParquetFile(file).read(columns=stored)
            if where_col in columns:
                table = table.append_column(where_col, pa.array(
                    [value] * table.num_rows, type=pa.int64()))
            tables.append(table)
    if not tables:
        schema = pq.read_schema(next(folder.rglob("*.parquet")))
        table = schema.empty_table().select(stored)
        if where_col in columns:
            table = table.append_column(where_col, pa.array([], type=pa.int64()))
        tables.append(table)
    return pa.concat_tables(tables).select(columns).to_pandas()


def time_read(fmt: str, path: str | os.PathLike[str], columns: Sequence[str],
              where_col: str, values: Sequence[int], *, repeats: int = 5,
              clock: str = "cpu") -> float:
    """Best time of ``repeats`` :func:`read_columns` calls, in this process, in seconds.

    Cheaper than :func:`measure_read` (no new process), and fine for time; memory
    needs a fresh process.

    Parameters
    ----------
    fmt, path, columns, where_col, values
        As for :func:`read_columns`.
    repeats : int
        Reads to time (at least 1); the best is kept.
    clock : {"cpu", "wall"}
        ``"cpu"`` (default): processor time of this process, all its threads
        together (:func:`time.process_time`). Other programs competing for the
        processor do not inflate it, which keeps comparisons stable on a shared
        machine; a reader that works in parallel threads is charged for every thread.
        ``"wall"``: elapsed time (:func:`time.perf_counter`), what a user waits on an
        otherwise idle machine.

    Returns
    -------
    float

    Examples
    --------
    >>> import tempfile
    >>> frame = pd.DataFrame({"day": [0, 1, 1], "app_id": [1, 2, 3]})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     folder = write_parquet_partitioned(frame, Path(tmp) / "log")
    ...     time_read("parquet", folder, ["app_id"], "day", [1], clock="wall") > 0
    True
    """
    import time

    _check_query(fmt, path, columns, where_col, values)
    repeats = check_int("repeats", repeats, minimum=1)
    clocks = {"cpu": time.process_time, "wall": time.perf_counter}
    if clock not in clocks:
        raise ValueError(f"clock must be 'cpu' or 'wall', got {clock!r}.")
    now = clocks[clock]
    best = float("inf")
    for _ in range(repeats):
        start = now()
        read_columns(fmt, path, columns, where_col, values)
        best = min(best, now() - start)
    return best


@dataclass(frozen=True)
class ReadMeasurement:
    """What one read cost, measured in a fresh process by :func:`measure_read`.

    Attributes
    ----------
    fmt : str
        ``"csv"`` or ``"parquet"``.
    rows : int
        Rows the read returned.
    seconds : float
        Best wall-clock time over the repeats.
    cpu_seconds : float
        Best processor time (all threads) over the repeats.
    peak_mb : float
        Peak resident memory added by the first read, in MiB (see the module's notes).
    memory_method : str
        ``"clear_refs"`` (Linux: the peak was reset just before the read) or
        ``"getrusage"`` (the process's peak since it started).
    """

    fmt: str
    rows: int
    seconds: float
    cpu_seconds: float
    peak_mb: float
    memory_method: str

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return asdict(self)


# The measuring process: imports what both readers need before the baseline, so that
# import costs land in neither format's number.
_CHILD = """
import json, sys
import pandas, pyarrow, pyarrow.parquet
from labkit.storage import _measure_here
print(json.dumps(_measure_here(**json.loads(sys.argv[1]))))
"""


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def _maxrss_kib() -> float:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform == "darwin" else float(peak)  # bytes on macOS


def _measure_here(fmt: str, path: str, columns: list[str], where_col: str,
                  values: list[int], repeats: int) -> dict[str, Any]:
    """Run in the measuring process: the first read for memory, every read for time."""
    import gc
    import time

    gc.collect()
    if _reset_peak():
        method = "clear_refs"
        before = float(_status_kib("VmRSS") or 0)
    else:
        method = "getrusage"
        before = _maxrss_kib()
    walls, cpus, rows, after = [], [], 0, before
    for attempt in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        frame = read_columns(fmt, path, columns, where_col, values)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        if attempt == 0:
            after = (float(_status_kib("VmHWM") or 0) if method == "clear_refs"
                     else _maxrss_kib())
            rows = len(frame)
        del frame
    return {"fmt": fmt, "rows": rows, "seconds": min(walls), "cpu_seconds": min(cpus),
            "peak_mb": max(after - before, 0.0) / 1024, "memory_method": method}


def measure_read(fmt: str, path: str | os.PathLike[str], columns: Sequence[str],
                 where_col: str, values: Sequence[int], *, repeats: int = 3,
                 timeout: float = 120.0) -> ReadMeasurement:
    """Time a :func:`read_columns` query and measure its peak memory, in a fresh process.

    The process imports pandas and pyarrow first, so the baseline holds the libraries
    of both formats; then it reads ``repeats`` times: the first read gives the peak
    resident memory a read adds, and the best of all reads the times. See the module's
    notes for why the operating system's view of memory is used.

    Parameters
    ----------
    fmt, path, columns, where_col, values
        As for :func:`read_columns`.
    repeats : int
        Reads to time (at least 1); the best time is kept.
    timeout : float
        Seconds before the measuring process is stopped.

    Returns
    -------
    ReadMeasurement

    Raises
    ------
    RuntimeError
        When the measuring process fails (its error is included).

    Examples
    --------
    >>> import tempfile
    >>> frame = pd.DataFrame({"day": [0, 1, 1], "app_id": [1, 2, 3]})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     csv = write_csv(frame, Path(tmp) / "log.csv")
    ...     m = measure_read("csv", csv, ["app_id"], "day", [1], repeats=2)
    >>> m.fmt, m.rows, m.seconds > 0, m.peak_mb >= 0
    ('csv', 2, True, True)
    """
    fmt, path, columns, where_col, values = _check_query(fmt, path, columns, where_col,
                                                         values)
    repeats = check_int("repeats", repeats, minimum=1)
    args = json.dumps({"fmt": fmt, "path": str(path), "columns": columns,
                       "where_col": where_col, "values": values, "repeats": repeats})
    done = subprocess.run([sys.executable, "-c", _CHILD, args], capture_output=True,
                          text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the measuring process failed (exit code {done.returncode}): "
                           f"{done.stderr.strip()[-500:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return ReadMeasurement(**result)
