"""Boundary validation helpers and the checks machinery."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit import checks
from labkit._validation import check_1d, check_float, check_int, check_rng, check_same_length


@given(st.integers(-5, 5))
def test_check_int_bounds(value):
    if value < 0:
        with pytest.raises(ValueError, match="at least 0"):
            check_int("k", value, minimum=0)
    else:
        assert check_int("k", value, minimum=0) == value


@pytest.mark.parametrize("bad", [1.5, "3", None, True])
def test_check_int_rejects_non_integers(bad):
    with pytest.raises(TypeError, match="k must be an integer"):
        check_int("k", bad)


def test_check_float_bounds_and_nan():
    assert check_float("p", 0.5, low=0, high=1) == 0.5
    with pytest.raises(ValueError, match="p must be < 1"):
        check_float("p", 1.0, low=0, high=1, high_inclusive=False)
    with pytest.raises(ValueError, match="finite"):
        check_float("p", float("nan"))


def test_check_rng_is_reproducible():
    a, b = check_rng(3), check_rng(3)
    assert a.integers(0, 10**9) == b.integers(0, 10**9)
    gen = np.random.default_rng(0)
    assert check_rng(gen) is gen


def test_check_1d_messages():
    with pytest.raises(ValueError, match="one-dimensional"):
        check_1d("y", np.zeros((2, 2)))
    with pytest.raises(ValueError, match="empty"):
        check_1d("y", [])
    with pytest.raises(TypeError, match="must hold numbers"):
        check_1d("y", ["a", "b"])
    with pytest.raises(ValueError, match="NaN"):
        check_1d("y", [1.0, np.nan])
    with pytest.raises(ValueError, match="only 0 and 1, found \\[2\\]"):
        check_1d("y", [0, 1, 2], dtype="binary")
    assert check_1d("y", [True, False], dtype="binary").tolist() == [1, 0]
    with pytest.raises(ValueError, match="a has 2, b has 3"):
        check_same_length(a=np.zeros(2), b=np.zeros(3))


def test_record_is_silent_outside_grading(tmp_path, monkeypatch):
    monkeypatch.delenv(checks.RESULTS_ENV, raising=False)
    checks.record("some_task", value=1.0)
    assert list(tmp_path.iterdir()) == []


def test_record_writes_plain_json_under_grading(tmp_path, monkeypatch):
    monkeypatch.setenv(checks.RESULTS_ENV, str(tmp_path))
    checks.record("top_k", rtol=1e-3, acc=np.array([0.5, 0.25]), name="x", k=3)
    payload = json.loads((tmp_path / "top_k.json").read_text())
    assert payload["rtol"] == 1e-3
    assert payload["values"]["acc"] == {"array": [0.5, 0.25], "shape": [2]}
    assert payload["values"]["name"] == "x"
    with pytest.raises(ValueError, match="lower_snake_case"):
        checks.record("../escape", value=1)


def test_call_answer_turns_stub_into_plain_words():
    def stub():
        raise NotImplementedError("hint")

    with pytest.raises(AssertionError, match="not implemented yet"):
        checks.call_answer("t", stub)
    with pytest.raises(AssertionError, match="expected a function"):
        checks.call_answer("t", 3)


def test_unknown_lab_checks_are_an_attribute_error():
    with pytest.raises(AttributeError, match="no checks for lab99"):
        checks.lab99  # noqa: B018


def test_import_labkit_is_light_and_submodules_load_lazily():
    import subprocess
    import sys

    code = ("import sys, labkit; heavy = {'torch', 'sklearn', 'matplotlib', 'pandas'}; "
            "print(sorted(heavy & set(sys.modules))); labkit.datasets; "
            "print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[0] == "[]" and out[1] == "True"
