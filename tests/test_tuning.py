"""Tests of labkit.tuning: searches on a fixed budget, their tables and importances.

The importances are compared with optuna's own ``get_param_importances`` (the library the
helper wraps), and the searches with what optuna records about each trial.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import optuna
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import GridSampler, RandomSampler, TPESampler

from labkit.tuning import check_space, importance_table, run_search, suggest, trials_table

SPACE = {
    "big": FloatDistribution(1e-4, 1.0, log=True),
    "small": FloatDistribution(0.0, 1.0),
    "kind": CategoricalDistribution(["a", "b"]),
}


def peaked(params):
    """Depends strongly on `big` (a peak at 1e-2), weakly on `small` and `kind`."""
    value = -(math.log10(params["big"]) + 2) ** 2 - 0.05 * params["small"] \
        - (0.02 if params["kind"] == "b" else 0.0)
    return round(value, 6)


def _study(sampler, n=40, objective=peaked, space=SPACE):
    return run_search(objective, space, sampler, n)


# ---------------------------------------------------------------- check_space and suggest


def test_check_space_keeps_the_order():
    assert list(check_space(SPACE)) == ["big", "small", "kind"]


@pytest.mark.parametrize("space, error, words", [
    ([("big", 1)], TypeError, "dict from hyperparameter names"),
    ({}, ValueError, "empty"),
    ({"big": (1e-4, 1.0)}, TypeError, "optuna distribution"),
    ({"": FloatDistribution(0, 1)}, TypeError, "non-empty strings"),
    ({3: FloatDistribution(0, 1)}, TypeError, "non-empty strings"),
])
def test_check_space_rejects_bad_spaces(space, error, words):
    with pytest.raises(error, match=words):
        check_space(space)


@given(st.one_of(st.integers(), st.floats(), st.text(), st.lists(st.integers()),
                 st.tuples(st.floats(), st.floats()), st.none()))
@settings(max_examples=40, deadline=None)
def test_check_space_rejects_any_non_distribution(value):
    with pytest.raises(TypeError, match="optuna distribution"):
        check_space({"x": value})


def test_suggest_keeps_the_declared_distributions():
    space = {**SPACE, "depth": IntDistribution(1, 8)}
    study = optuna.create_study(sampler=RandomSampler(seed=0))
    trial = study.ask()
    params = suggest(trial, space)
    assert list(params) == ["big", "small", "kind", "depth"]
    assert trial.distributions == space    # log scale, ranges and choices as declared
    assert isinstance(params["depth"], int) and 1 <= params["depth"] <= 8


def test_suggest_rejects_what_is_not_a_trial():
    with pytest.raises(TypeError, match="optuna trial"):
        suggest({"big": 0.1}, SPACE)


# ---------------------------------------------------------------- run_search


def test_random_search_spreads_a_log_range_over_its_exponents():
    study = _study(RandomSampler(seed=0), n=200)
    exponents = np.log10([t.params["big"] for t in study.trials])
    # A log-uniform draw over 1e-4..1 puts about a quarter of the trials in each decade.
    counts = np.histogram(exponents, bins=[-4, -3, -2, -1, 0])[0]
    assert counts.min() > 30, counts


def test_grid_search_stops_when_the_grid_is_used_up():
    grid = {"big": [1e-4, 1e-2, 1.0], "small": [0.0], "kind": ["a", "b"]}
    study = _study(GridSampler(grid, seed=0), n=50)
    assert len(study.trials) == 6
    assert study.best_params == {"big": 1e-2, "small": 0.0, "kind": "a"}


def test_searches_are_reproducible_with_a_seed():
    first = [t.params for t in _study(TPESampler(seed=3), n=15).trials]
    again = [t.params for t in _study(TPESampler(seed=3), n=15).trials]
    assert first == again


def test_tpe_starts_like_random_search_with_the_same_seed():
    tpe = _study(TPESampler(seed=1), n=12).trials
    rand = _study(RandomSampler(seed=1), n=12).trials
    assert [t.params for t in tpe[:10]] == [t.params for t in rand[:10]]


def test_tpe_finds_the_peak_better_than_its_start():
    study = _study(TPESampler(seed=0), n=40)
    values = [t.value for t in study.trials]
    assert np.median(values[20:]) > np.median(values[:10])


def test_run_search_minimizes_when_asked():
    study = run_search(lambda p: -peaked(p), SPACE, RandomSampler(seed=0), 20,
                       direction="minimize")
    assert study.best_value == -max(peaked(t.params) for t in study.trials)


def test_run_search_restores_optuna_logging():
    optuna.logging.set_verbosity(optuna.logging.DEBUG)
    try:
        _study(RandomSampler(seed=0), n=2)
        assert optuna.logging.get_verbosity() == optuna.logging.DEBUG
    finally:
        optuna.logging.set_verbosity(optuna.logging.INFO)


@pytest.mark.parametrize("kwargs, error, words", [
    ({"objective": 3}, TypeError, "objective must be a function"),
    ({"sampler": "random"}, TypeError, "optuna sampler"),
    ({"n_trials": 0}, ValueError, "at least 1"),
    ({"n_trials": 2.5}, TypeError, "integer"),
    ({"direction": "up"}, ValueError, "maximize"),
    ({"objective": lambda p: "good"}, TypeError, "return one number"),
    ({"objective": lambda p: True}, TypeError, "return one number"),
])
def test_run_search_rejects_bad_input(kwargs, error, words):
    args = {"objective": peaked, "space": SPACE, "sampler": RandomSampler(seed=0),
            "n_trials": 3, **kwargs}
    with pytest.raises(error, match=words):
        run_search(args.pop("objective"), args.pop("space"), args.pop("sampler"),
                   args.pop("n_trials"), **args)


@given(st.one_of(st.floats(allow_nan=False), st.text(), st.none(), st.booleans()))
@settings(max_examples=30, deadline=None)
def test_run_search_rejects_any_non_integer_budget(budget):
    with pytest.raises(TypeError, match="n_trials must be an integer"):
        run_search(peaked, SPACE, RandomSampler(seed=0), budget)


# ---------------------------------------------------------------- trials_table


def test_trials_table_lists_every_trial_in_order():
    studies = {"random": _study(RandomSampler(seed=0), n=5),
               "grid": _study(GridSampler({"big": [1e-2, 1.0], "small": [0.5],
                                           "kind": ["a"]}, seed=0), n=5)}
    table = trials_table(studies)
    assert list(table.columns) == ["method", "trial", "value", "big", "kind", "small"]
    assert table["method"].tolist() == ["random"] * 5 + ["grid"] * 2
    assert table["trial"].tolist() == [1, 2, 3, 4, 5, 1, 2]
    first = studies["random"].trials[0]
    assert table.loc[0, "value"] == first.value and table.loc[0, "big"] == first.params["big"]


def test_trials_table_marks_failed_trials_with_nan():
    def fails_at_the_top(params):
        return float("nan") if params["big"] > 0.1 else peaked(params)

    study = _study(GridSampler({"big": [1e-2, 1.0], "small": [0.0], "kind": ["a"]}, seed=0),
                   n=2, objective=fails_at_the_top)
    table = trials_table({"grid": study}).set_index("big")
    assert math.isnan(table.loc[1.0, "value"]) and table.loc[1e-2, "value"] == 0.0


@pytest.mark.parametrize("studies, words", [
    ({}, "non-empty dict"),
    ([1, 2], "non-empty dict"),
    ({"random": "study"}, "optuna study"),
    ({1: None}, "strings"),
])
def test_trials_table_rejects_bad_input(studies, words):
    with pytest.raises(TypeError, match=words):
        trials_table(studies)


# ---------------------------------------------------------------- importance_table


def test_importance_table_ranks_the_dominant_hyperparameter_first():
    studies = {"random": _study(RandomSampler(seed=0)), "tpe": _study(TPESampler(seed=0))}
    table = importance_table(studies)
    assert table.columns[0] == "big"
    assert list(table.index) == ["random", "tpe"]
    assert np.allclose(table.sum(axis=1), 1.0)


def test_importance_table_agrees_with_optuna():
    study = _study(RandomSampler(seed=2))
    table = importance_table({"random": study})
    evaluator = optuna.importance.PedAnovaImportanceEvaluator()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        want = optuna.importance.get_param_importances(study, evaluator=evaluator)
    assert table.loc["random"].to_dict() == pytest.approx(want)


def test_importance_table_takes_another_evaluator():
    study = _study(RandomSampler(seed=0), n=30)
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    table = importance_table({"random": study}, evaluator=evaluator)
    want = optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    assert table.loc["random"].to_dict() == pytest.approx(want)


def test_importance_table_needs_enough_trials():
    with pytest.raises(ValueError, match="at least 10"):
        importance_table({"random": _study(RandomSampler(seed=0), n=5)})


def test_importance_table_is_a_dataframe_of_floats():
    table = importance_table({"random": _study(RandomSampler(seed=0))})
    assert isinstance(table, pd.DataFrame) and table.dtypes.eq(float).all()
