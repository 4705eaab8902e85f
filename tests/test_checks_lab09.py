"""Tests of labkit.checks.lab09: the checks pass correct answers and catch plausible slips.

The reference implementations below are test oracles written independently of the
solution notebook (loops and explicit formulas); labkit itself never ships them.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from scipy import sparse
from sklearn.linear_model import SGDClassifier

from labkit.checks import RESULTS_ENV, lab09

# ---------------------------------------------------------------- the lab's setting

SPACE = {
    "eta0": FloatDistribution(1e-5, 10.0, log=True),
    "alpha": FloatDistribution(1e-7, 1e-3, log=True),
    "loss": CategoricalDistribution(["log_loss", "modified_huber"]),
}


def make_model(params):
    return SGDClassifier(learning_rate="constant", max_iter=10, tol=None, random_state=0,
                         **params)


def _run_data(seed=0, n_train=600, n_valid=200, n_features=40, n_classes=4):
    """Sparse one-hot-like rows whose label depends on a few features, with noise."""
    rng = np.random.default_rng(seed)

    def rows(n):
        cols = rng.integers(0, n_features, size=(n, 3))
        X = np.zeros((n, n_features))
        np.put_along_axis(X, cols, 1.0, axis=1)
        y = (cols[:, 0] % n_classes + (rng.random(n) < 0.3) * rng.integers(0, n_classes, n)) \
            % n_classes
        return sparse.csr_matrix(X), y

    return (*rows(n_train), *rows(n_valid))


# ---------------------------------------------------------------- reference answers


def ref_accuracy(params, X_train, y_train, X_valid, y_valid):
    model = make_model(params)
    model.fit(X_train, y_train)
    right = sum(int(p == t) for p, t in zip(model.predict(X_valid), y_valid, strict=True))
    return round(right / len(y_valid), 6)


def ref_grid(space, budget):
    cats = {n: list(d.choices) for n, d in space.items()
            if isinstance(d, CategoricalDistribution)}
    combos = 1
    for values in cats.values():
        combos *= len(values)
    numeric = [n for n in space if n not in cats]
    n = max(k for k in range(1, budget + 1) if k ** len(numeric) * combos <= budget)
    grid = {}
    for name, dist in space.items():
        if name in cats:
            grid[name] = cats[name]
        elif dist.log:
            lo, hi = math.log10(dist.low), math.log10(dist.high)
            grid[name] = [10 ** (lo + (hi - lo) * i / (n - 1)) for i in range(n)]
        else:
            grid[name] = [dist.low + (dist.high - dist.low) * i / (n - 1) for i in range(n)]
    return grid


def ref_best_so_far(values):
    out, best = [], math.nan
    for v in values:
        if not math.isnan(v) and (math.isnan(best) or v > best):
            best = v
        out.append(best)
    return np.array(out)


# ---------------------------------------------------------------- validation_accuracy


def test_validation_accuracy_passes_the_reference(capsys):
    lab09.validation_accuracy(ref_accuracy, make_model, *_run_data())
    assert "[ok] validation_accuracy" in capsys.readouterr().out


def test_the_small_case_has_the_numbers_the_lab_quotes():
    X_a, y_a, X_b, y_b = lab09._small_case()
    for params in lab09.EXAMPLE_PARAMS:
        assert ref_accuracy(params, X_a, y_a, X_b, y_b) == 0.363636
        assert ref_accuracy(params, X_a, y_a, X_a, y_a) == 1.0
        both = ref_accuracy(params, sparse.vstack([X_a, X_b]), np.concatenate([y_a, y_b]),
                            X_b, y_b)
        assert both == 0.909091


def accuracy_on_train(params, X_train, y_train, X_valid, y_valid):
    return ref_accuracy(params, X_train, y_train, X_train, y_train)


def accuracy_fit_on_both(params, X_train, y_train, X_valid, y_valid):
    return ref_accuracy(params, sparse.vstack([X_train, X_valid]),
                        np.concatenate([y_train, y_valid]), X_valid, y_valid)


def accuracy_unrounded(params, X_train, y_train, X_valid, y_valid):
    return float(make_model(params).fit(X_train, y_train).score(X_valid, y_valid))


_X_TEST, _Y_TEST = _run_data(seed=5)[2:]


def accuracy_on_global_test(params, X_train, y_train, X_valid, y_valid):
    return ref_accuracy(params, X_train, y_train, _X_TEST, _Y_TEST)


def accuracy_as_string(params, X_train, y_train, X_valid, y_valid):
    return str(ref_accuracy(params, X_train, y_train, X_valid, y_valid))


@pytest.mark.parametrize("wrong, words", [
    (accuracy_on_train, "accuracy on the training rows"),
    (accuracy_fit_on_both, "also trained on the validation rows"),
    (accuracy_unrounded, "before rounding"),
    (accuracy_on_global_test, "raised ValueError"),
    (accuracy_as_string, "return one number"),
])
def test_validation_accuracy_catches_slips(wrong, words):
    with pytest.raises(AssertionError, match=words):
        lab09.validation_accuracy(wrong, make_model, *_run_data())


def test_validation_accuracy_catches_the_test_rows_when_shapes_agree():
    """A function that reads other rows than it is given (here: rows of the same width),
    fine on the small case, is caught on the run's data."""
    X_train, y_train, X_valid, y_valid = _run_data()
    X_other, y_other = _run_data(seed=9)[2:]

    def sneaky(params, X_tr, y_tr, X_va, y_va):
        if X_va.shape[1] == X_other.shape[1]:
            X_va, y_va = X_other, y_other
        return ref_accuracy(params, X_tr, y_tr, X_va, y_va)

    with pytest.raises(AssertionError, match="use the arguments it is given"):
        lab09.validation_accuracy(sneaky, make_model, X_train, y_train, X_valid, y_valid)


def test_validation_accuracy_reports_an_unimplemented_answer():
    def stub(*args):
        raise NotImplementedError("Return a float.")

    with pytest.raises(AssertionError, match="not implemented yet"):
        lab09.validation_accuracy(stub, make_model, *_run_data())


def test_validation_accuracy_rejects_bad_input():
    with pytest.raises(AssertionError, match="make_model"):
        lab09.validation_accuracy(ref_accuracy, None, *_run_data())


# ---------------------------------------------------------------- grid_for_budget


def test_grid_passes_the_reference(capsys):
    lab09.grid_for_budget(ref_grid, SPACE, 32)
    assert "[ok] grid_for_budget" in capsys.readouterr().out


def test_the_reference_grid_matches_the_lab():
    grid = lab09._reference_grid(SPACE, 32)
    assert grid["loss"] == ["log_loss", "modified_huber"]
    assert grid["eta0"] == pytest.approx([1e-5, 1e-3, 1e-1, 10.0], rel=1e-12)
    assert len(grid["alpha"]) == 4


def grid_linear(space, budget):
    grid = ref_grid(space, budget)
    for name, dist in space.items():
        if isinstance(dist, FloatDistribution):
            grid[name] = list(np.linspace(dist.low, dist.high, len(grid[name])))
    return grid


def grid_raw_logspace(space, budget):
    grid = ref_grid(space, budget)
    for name, dist in space.items():
        if isinstance(dist, FloatDistribution) and dist.log:
            grid[name] = list(np.logspace(dist.low, dist.high, len(grid[name])))
    return grid


def grid_float_root(space, budget):
    cats = {n: list(d.choices) for n, d in space.items()
            if isinstance(d, CategoricalDistribution)}
    combos = math.prod(len(v) for v in cats.values())
    numeric = [n for n in space if n not in cats]
    n = int((budget / combos) ** (1 / len(numeric)))
    spread = {name: (np.geomspace if space[name].log else np.linspace) for name in numeric}
    return {name: cats[name] if name in cats
            else list(spread[name](space[name].low, space[name].high, n)) for name in space}


def grid_without_categories_in_budget(space, budget):
    numeric = [n for n, d in space.items() if isinstance(d, FloatDistribution)]
    n = max(k for k in range(1, budget + 1) if k ** len(numeric) <= budget)
    return {name: list(d.choices) if isinstance(d, CategoricalDistribution)
            else list((np.geomspace if d.log else np.linspace)(d.low, d.high, n))
            for name, d in space.items()}


def grid_sorted_choices(space, budget):
    grid = ref_grid(space, budget)
    for name, dist in space.items():
        if isinstance(dist, CategoricalDistribution):
            grid[name] = grid[name][::-1]
    return grid


def grid_without_ends(space, budget):
    grid = ref_grid(space, budget)
    for name, dist in space.items():
        if isinstance(dist, FloatDistribution):
            n = len(grid[name])
            lo, hi = (math.log(dist.low), math.log(dist.high)) if dist.log else (dist.low,
                                                                                  dist.high)
            inner = [lo + (hi - lo) * (i + 0.5) / n for i in range(n)]
            grid[name] = [math.exp(v) for v in inner] if dist.log else inner
    return grid


@pytest.mark.parametrize("wrong, words", [
    (grid_linear, "evenly spaced on a linear scale"),
    (grid_raw_logspace, "np.logspace takes exponents"),
    (grid_float_root, r"64 \*\* \(1/3\)"),
    (grid_without_categories_in_budget, "more than the budget"),
    (grid_sorted_choices, "every choice of the categorical"),
    (grid_without_ends, "both ends included"),
    (lambda space, budget: list(space), "return a dict"),
    (lambda space, budget: {"x": [1]}, "exactly the space's names"),
])
def test_grid_catches_slips(wrong, words):
    with pytest.raises(AssertionError, match=words):
        lab09.grid_for_budget(wrong, SPACE, 32)


def test_grid_accepts_arrays_and_tuples(capsys):
    def as_arrays(space, budget):
        return {name: np.asarray(values) if name != "loss" else tuple(values)
                for name, values in ref_grid(space, budget).items()}

    lab09.grid_for_budget(as_arrays, SPACE, 32)
    assert "[ok]" in capsys.readouterr().out


@pytest.mark.parametrize("space, budget, words", [
    ({"eta0": (1e-5, 10.0)}, 32, "SPACE"),
    ({}, 32, "SPACE"),
    (SPACE, 0, "BUDGET"),
    (SPACE, 3.5, "BUDGET"),
])
def test_grid_rejects_bad_input(space, budget, words):
    with pytest.raises(AssertionError, match=words):
        lab09.grid_for_budget(ref_grid, space, budget)


# ---------------------------------------------------------------- best_so_far


RUN = 3   # the run's seed


def test_best_so_far_passes_the_reference(capsys):
    lab09.best_so_far(ref_best_so_far, RUN)
    assert "[ok] best_so_far" in capsys.readouterr().out


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 20261126])
def test_the_run_values_hold_failed_trials_and_depend_on_the_seed(seed):
    values = lab09._run_values(seed)
    assert len(values) == 40 and np.isnan(values).sum() >= 2
    assert np.nanmin(values) >= 0.25 and np.nanmax(values) <= 0.4
    assert not np.array_equal(values, lab09._run_values(seed + 1), equal_nan=True)


@pytest.mark.parametrize("wrong, words", [
    (lambda v: np.maximum.accumulate(np.asarray(v, float)), "np.maximum"),
    (lambda v: pd.Series(v, dtype=float).cummax().to_numpy(), "cummax leaves"),
    (lambda v: np.cumsum(v) / np.arange(1, len(v) + 1), "running mean"),
    (lambda v: np.fmin.accumulate(np.asarray(v, float)), "lowest value so far"),
    (lambda v: np.asarray(v, float), "the values themselves"),
    (lambda v: ref_best_so_far([x for x in v if not math.isnan(x)]), "one per trial"),
    (lambda v: np.nan_to_num(ref_best_so_far(v), nan=0.0), r"the answer is \[nan"),
    (lambda v: "best", "1-d array of numbers"),
])
def test_best_so_far_catches_slips(wrong, words):
    with pytest.raises(AssertionError, match=words):
        lab09.best_so_far(wrong, RUN)


@pytest.mark.parametrize("seed", [[0.1, 0.2], -1, 2.5, True])
def test_best_so_far_rejects_bad_input(seed):
    with pytest.raises(AssertionError, match="SEED"):
        lab09.best_so_far(ref_best_so_far, seed)


# ---------------------------------------------------------------- most_important

IMPORTANCE = pd.DataFrame({"eta0": [0.99, 0.9, 0.7], "alpha": [0.0, 0.02, 0.25],
                           "loss": [0.01, 0.08, 0.05]},
                          index=["grid", "random", "Bayesian (TPE)"])


def test_most_important_accepts_the_top_column(capsys):
    lab09.most_important("eta0", IMPORTANCE)
    assert "[ok] most_important" in capsys.readouterr().out


def test_most_important_follows_the_average_not_one_row(capsys):
    table = IMPORTANCE.copy()
    table.loc["Bayesian (TPE)"] = [0.3, 0.65, 0.05]   # one row prefers alpha
    lab09.most_important("eta0", table)
    with pytest.raises(AssertionError, match="larger importance"):
        lab09.most_important("alpha", table)


@pytest.mark.parametrize("value, words", [
    ("alpha", "larger importance"),
    ("loss", "smallest importance"),
    ("learning rate", "one of the hyperparameters"),
    ("grid", "one of the hyperparameters"),   # averaged over the hyperparameters (axis=1)
    (0, "a string"),
])
def test_most_important_catches_slips(value, words):
    with pytest.raises(AssertionError, match=words):
        lab09.most_important(value, IMPORTANCE)


def test_most_important_rejects_bad_input():
    with pytest.raises(AssertionError, match="importance table"):
        lab09.most_important("eta0", {"eta0": 1.0})


# ---------------------------------------------------------------- final_params

TABLE = pd.DataFrame({
    "method": ["grid", "grid", "random", "random", "Bayesian (TPE)"],
    "trial": [1, 2, 1, 2, 1],
    "value": [0.30, 0.41, 0.41, np.nan, 0.39],
    "alpha": [1e-7, 1e-5, 2e-6, 3e-4, 5e-5],
    "eta0": [1e-5, 0.1, 0.02, 8.0, 0.03],
    "loss": ["log_loss", "modified_huber", "log_loss", "log_loss", "log_loss"],
})


@pytest.mark.parametrize("row", [1, 2])
def test_final_params_accepts_any_best_trial(row, capsys):
    chosen = {name: TABLE.loc[row, name] for name in SPACE}
    lab09.final_params(chosen, TABLE, SPACE)
    assert "[ok] final_params" in capsys.readouterr().out


def test_final_params_accepts_plain_python_values(capsys):
    lab09.final_params({"eta0": 0.1, "alpha": 1e-5, "loss": "modified_huber"}, TABLE, SPACE)
    assert "[ok]" in capsys.readouterr().out


@pytest.mark.parametrize("value, words", [
    ({"eta0": 0.03, "alpha": 5e-5, "loss": "log_loss"}, "another trial has a higher"),
    ({"eta0": 0.1, "alpha": 1e-5, "loss": "log_loss"}, "not a configuration"),
    ({"eta0": 0.5, "alpha": 1e-5, "loss": "modified_huber"}, "not a configuration"),
    ({"eta0": 8.0, "alpha": 3e-4, "loss": "log_loss"}, "not a configuration"),   # failed
    ({"eta0": 0.1, "alpha": 1e-5}, "exactly the hyperparameters"),
    ([0.1, 1e-5, "modified_huber"], "a dict"),
])
def test_final_params_catches_slips(value, words):
    with pytest.raises(AssertionError, match=words):
        lab09.final_params(value, TABLE, SPACE)


def test_final_params_rejects_bad_input():
    with pytest.raises(AssertionError, match="trials table"):
        lab09.final_params({"eta0": 0.1}, TABLE[["value"]], SPACE)


# ---------------------------------------------------------------- recording and secrecy


def _plain(value):
    """A recorded value with record()'s {"array", "shape"} wrapping undone."""
    if isinstance(value, dict) and set(value) == {"array", "shape"}:
        return value["array"]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def test_checks_record_plain_json(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    data = _run_data()
    lab09.validation_accuracy(ref_accuracy, make_model, *data)
    lab09.grid_for_budget(ref_grid, SPACE, 32)
    lab09.best_so_far(ref_best_so_far, RUN)
    lab09.most_important("eta0", IMPORTANCE)
    lab09.final_params({"eta0": 0.02, "alpha": 2e-6, "loss": "log_loss"}, TABLE, SPACE)

    def values(task):
        return json.loads((tmp_path / f"{task}.json").read_text())["values"]

    want = [ref_accuracy(p, *data) for p in lab09.EXAMPLE_PARAMS]
    assert values("validation_accuracy")["accuracy"]["array"] == pytest.approx(want)
    grid = values("grid_for_budget")
    assert grid["loss"] == ["log_loss", "modified_huber"]
    assert grid["eta0"]["array"] == pytest.approx([1e-5, 1e-3, 1e-1, 10.0])
    assert values("best_so_far")["deviation"] == {"array": 0.0, "shape": []}
    assert _plain(values("most_important")["most_important"]) == {"decision": 0,
                                                                   "accepted": [0]}
    assert _plain(values("final_params")["gap"]) == {"decision": 0, "accepted": [0]}


def test_wrong_decisions_are_recorded_relative_to_the_learners_tables(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    with pytest.raises(AssertionError):
        lab09.most_important("loss", IMPORTANCE)
    with pytest.raises(AssertionError):
        lab09.final_params({"eta0": 0.03, "alpha": 5e-5, "loss": "log_loss"}, TABLE, SPACE)
    ranked = json.loads((tmp_path / "most_important.json").read_text())["values"]
    assert _plain(ranked["most_important"]) == {"decision": 2, "accepted": [0]}
    gap = _plain(json.loads((tmp_path / "final_params.json").read_text())["values"]["gap"])
    assert gap["decision"] == pytest.approx(0.02) and gap["accepted"] == [0]


def test_best_so_far_records_a_deviation_for_a_wrong_curve(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))

    def right_on_examples_only(values):
        curve = ref_best_so_far(values)
        return curve if len(values) <= 4 else curve - 0.01

    with pytest.raises(AssertionError, match="not the highest value so far"):
        lab09.best_so_far(right_on_examples_only, RUN)
    deviation = json.loads((tmp_path / "best_so_far.json").read_text())["values"]["deviation"]
    assert deviation["array"] == pytest.approx(0.01)


@pytest.mark.parametrize("wrong", [accuracy_on_train, accuracy_fit_on_both])
def test_accuracy_messages_never_reveal_values_from_the_run_data(wrong):
    data = _run_data()
    secrets = [ref_accuracy(p, *data) for p in lab09.EXAMPLE_PARAMS]

    def right_on_small_case_only(params, X_train, y_train, X_valid, y_valid):
        if X_train.shape[1] == 3:
            return ref_accuracy(params, X_train, y_train, X_valid, y_valid)
        return wrong(params, X_train, y_train, X_valid, y_valid)

    with pytest.raises(AssertionError) as info:
        lab09.validation_accuracy(right_on_small_case_only, make_model, *data)
    for secret in secrets:
        for digits in (2, 3, 4):
            assert f"{secret:.{digits}f}" not in str(info.value)
