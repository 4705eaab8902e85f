"""Helpers around a hyperparameter search: run one on a fixed budget, tabulate its
trials, and ask which hyperparameters mattered.

A search space is a plain dict from each hyperparameter's name to an optuna
distribution, the field's own description of a range::

    from optuna.distributions import CategoricalDistribution, FloatDistribution
    space = {"eta0": FloatDistribution(1e-5, 10.0, log=True),
             "loss": CategoricalDistribution(["log_loss", "modified_huber"])}

* :func:`suggest` draws one configuration of a space from an optuna trial;
* :func:`run_search` runs a search with any optuna sampler (a grid, random draws, TPE)
  for a fixed number of trials, on an objective that takes a plain dict of
  hyperparameters, so the objective knows nothing about optuna;
* :func:`trials_table` puts the trials of several searches in one table, one row per
  trial, in the order they ran;
* :func:`importance_table` estimates, for each search, how much each hyperparameter
  mattered, with optuna's importance evaluators.

What a lab asks the learner to write (the objective, a grid that fits a budget, the
best-so-far curve) is not here. optuna is imported inside the functions, so importing
this module is cheap, and nothing here changes optuna's global state for longer than a
call: logging is quieted while a search runs and restored afterwards.

Examples
--------
>>> from optuna.distributions import CategoricalDistribution, FloatDistribution
>>> from optuna.samplers import RandomSampler
>>> space = {"x": FloatDistribution(-2.0, 2.0), "shift": CategoricalDistribution([0, 1])}
>>> study = run_search(lambda p: round(-(p["x"] - p["shift"]) ** 2, 6), space,
...                    RandomSampler(seed=0), n_trials=20)
>>> len(study.trials), study.best_value > -0.1
(20, True)
>>> list(trials_table({"random": study}).columns)
['method', 'trial', 'value', 'shift', 'x']
"""

from __future__ import annotations

import contextlib
import math
import numbers
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ._validation import check_int

__all__ = ["check_space", "importance_table", "run_search", "suggest", "trials_table"]

_SPACE_EXAMPLE = ("e.g. {'eta0': FloatDistribution(1e-5, 10.0, log=True), "
                  "'loss': CategoricalDistribution(['log_loss', 'hinge'])}")


def _distributions() -> tuple[type, type, type]:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    return FloatDistribution, IntDistribution, CategoricalDistribution


def check_space(space: Any) -> dict[str, Any]:
    """Return ``space`` as a dict of optuna distributions, or raise a clear error.

    Parameters
    ----------
    space : mapping
        Hyperparameter name (a non-empty string) -> ``optuna.distributions``
        ``FloatDistribution``, ``IntDistribution`` or ``CategoricalDistribution``.

    Returns
    -------
    dict
        The same entries, in the same order.

    Raises
    ------
    TypeError
        When ``space`` is not a mapping, a name is not a string, or a value is not one
        of the three distributions.
    ValueError
        When ``space`` is empty.

    Examples
    --------
    >>> from optuna.distributions import FloatDistribution
    >>> list(check_space({"alpha": FloatDistribution(1e-7, 1e-3, log=True)}))
    ['alpha']
    >>> check_space({"alpha": (1e-7, 1e-3)})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: space['alpha'] must be an optuna distribution (...), got tuple; e.g. ...
    """
    if not isinstance(space, Mapping):
        raise TypeError(f"space must be a dict from hyperparameter names to optuna "
                        f"distributions, got {type(space).__name__}; {_SPACE_EXAMPLE}")
    if not space:
        raise ValueError(f"space is empty: name at least one hyperparameter; {_SPACE_EXAMPLE}")
    kinds = _distributions()
    for name, dist in space.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"hyperparameter names must be non-empty strings, got {name!r}.")
        if not isinstance(dist, kinds):
            raise TypeError(f"space[{name!r}] must be an optuna distribution "
                            "(FloatDistribution, IntDistribution or CategoricalDistribution), "
                            f"got {type(dist).__name__}; {_SPACE_EXAMPLE}")
    return dict(space)


def suggest(trial: Any, space: Mapping[str, Any]) -> dict[str, Any]:
    """Draw one configuration of ``space`` from an optuna trial.

    Each hyperparameter is suggested with the trial's ``suggest_float``,
    ``suggest_int`` or ``suggest_categorical``, keeping the distribution's range, step
    and log scale, so that the sampler behind the trial (grid, random, TPE) sees the
    space exactly as declared.

    Parameters
    ----------
    trial : optuna.trial.Trial or optuna.trial.FixedTrial
        The trial to draw from.
    space : mapping
        Name -> optuna distribution (see :func:`check_space`).

    Returns
    -------
    dict
        Name -> value, in the order of ``space``.

    Examples
    --------
    >>> from optuna.distributions import CategoricalDistribution, FloatDistribution
    >>> from optuna.trial import FixedTrial
    >>> space = {"alpha": FloatDistribution(1e-7, 1e-3, log=True),
    ...          "loss": CategoricalDistribution(["log_loss", "hinge"])}
    >>> suggest(FixedTrial({"alpha": 1e-4, "loss": "hinge"}), space)
    {'alpha': 0.0001, 'loss': 'hinge'}
    """
    space = check_space(space)
    if not all(hasattr(trial, f"suggest_{k}") for k in ("float", "int", "categorical")):
        raise TypeError("trial must be an optuna trial (it has suggest_float, suggest_int "
                        f"and suggest_categorical), got {type(trial).__name__}.")
    floats, ints, _ = _distributions()
    params: dict[str, Any] = {}
    for name, dist in space.items():
        if isinstance(dist, floats):
            params[name] = trial.suggest_float(name, dist.low, dist.high, step=dist.step,
                                               log=dist.log)
        elif isinstance(dist, ints):
            params[name] = trial.suggest_int(name, dist.low, dist.high, step=dist.step,
                                             log=dist.log)
        else:
            params[name] = trial.suggest_categorical(name, dist.choices)
    return params


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna's per-trial INFO lines off, and its experimental warnings silenced, for the
    duration of a call; the previous verbosity comes back afterwards."""
    import optuna

    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(before)


def run_search(objective: Callable[[dict[str, Any]], float], space: Mapping[str, Any],
               sampler: Any, n_trials: int, *, direction: str = "maximize") -> Any:
    """Run one hyperparameter search on a fixed budget of trials.

    Each trial draws a configuration from ``space`` with ``sampler`` (see
    :func:`suggest`), calls ``objective`` with it as a plain dict and records the number
    it returns. A grid smaller than the budget ends the search when it is used up
    (optuna's ``GridSampler`` stops the study), so a grid never gets more trials than
    it has points.

    Parameters
    ----------
    objective : callable
        ``objective(params) -> float``: the score of one configuration, e.g. its
        validation accuracy. Round it (to 6 decimals, say) so that a last-bit difference
        between two CPUs cannot steer an adaptive sampler onto another path.
    space : mapping
        Name -> optuna distribution (see :func:`check_space`).
    sampler : optuna.samplers.BaseSampler
        ``GridSampler(grid, seed=...)``, ``RandomSampler(seed=...)``,
        ``TPESampler(seed=...)``, ...
    n_trials : int
        The budget: at most this many trials (at least 1).
    direction : {"maximize", "minimize"}
        Whether larger scores are better.

    Returns
    -------
    optuna.study.Study
        An in-memory study: ``study.trials``, ``study.best_params``, ...

    Raises
    ------
    TypeError
        When the objective is not callable, the sampler is not an optuna sampler, or
        the objective returns something other than a real number.
    ValueError
        When the budget is below 1 or the direction is unknown.

    Examples
    --------
    >>> from optuna.distributions import FloatDistribution
    >>> from optuna.samplers import GridSampler
    >>> space = {"x": FloatDistribution(0.0, 1.0)}
    >>> study = run_search(lambda p: p["x"], space, GridSampler({"x": [0.0, 0.5, 1.0]},
    ...                    seed=0), n_trials=10)
    >>> len(study.trials), study.best_params
    (3, {'x': 1.0})
    """
    import optuna

    if not callable(objective):
        raise TypeError("objective must be a function of a dict of hyperparameters, got "
                        f"{type(objective).__name__}.")
    space = check_space(space)
    if not isinstance(sampler, optuna.samplers.BaseSampler):
        raise TypeError("sampler must be an optuna sampler, e.g. "
                        "optuna.samplers.RandomSampler(seed=0), got "
                        f"{type(sampler).__name__}.")
    n_trials = check_int("n_trials", n_trials, minimum=1)
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction must be 'maximize' or 'minimize', got {direction!r}.")

    def scored(trial: Any) -> float:
        value = objective(suggest(trial, space))
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise TypeError("the objective must return one number (the configuration's "
                            f"score), got {type(value).__name__} {str(value)[:60]}.")
        return float(value)

    with _quiet_optuna():
        study = optuna.create_study(direction=direction, sampler=sampler)
        study.optimize(scored, n_trials=n_trials)
    return study


def _check_studies(studies: Any) -> dict[str, Any]:
    import optuna

    if not isinstance(studies, Mapping) or not studies:
        raise TypeError("studies must be a non-empty dict from a method's name to its "
                        f"optuna study, e.g. {{'random': study}}; got {type(studies).__name__}.")
    for name, study in studies.items():
        if not isinstance(name, str):
            raise TypeError(f"the methods' names must be strings, got {name!r}.")
        if not isinstance(study, optuna.study.Study):
            raise TypeError(f"studies[{name!r}] must be an optuna study (what run_search "
                            f"returns), got {type(study).__name__}.")
    return dict(studies)


def trials_table(studies: Mapping[str, Any]) -> pd.DataFrame:
    """The trials of several searches in one table, one row per trial.

    Parameters
    ----------
    studies : mapping
        Method name -> optuna study, e.g. ``{"grid": ..., "random": ...}``.

    Returns
    -------
    pandas.DataFrame
        Columns ``method``, ``trial`` (1, 2, ... in the order the trials ran),
        ``value`` (NaN for a trial that failed or was pruned), then one column per
        hyperparameter, in alphabetical order (NaN where a trial did not use it). Rows
        follow ``studies``' order, then the trials' order.

    Examples
    --------
    >>> from optuna.distributions import FloatDistribution
    >>> from optuna.samplers import GridSampler
    >>> space = {"x": FloatDistribution(0.0, 1.0)}
    >>> study = run_search(lambda p: p["x"] if p["x"] < 1 else float("nan"), space,
    ...                    GridSampler({"x": [1.0, 0.5]}, seed=0), n_trials=2)
    >>> trials_table({"grid": study})[["trial", "value"]].to_dict("list")
    {'trial': [1, 2], 'value': [0.5, nan]}
    """
    import optuna

    studies = _check_studies(studies)
    names = sorted({p for study in studies.values() for t in study.trials for p in t.params})
    rows = []
    for method, study in studies.items():
        for t in sorted(study.trials, key=lambda t: t.number):
            done = t.state == optuna.trial.TrialState.COMPLETE and t.value is not None
            rows.append({"method": method, "trial": t.number + 1,
                         "value": float(t.value) if done else math.nan,
                         **{p: t.params.get(p, math.nan) for p in names}})
    return pd.DataFrame(rows, columns=["method", "trial", "value", *names])


def importance_table(studies: Mapping[str, Any], *, evaluator: Any = None) -> pd.DataFrame:
    """How much each hyperparameter mattered, estimated separately from each search.

    Parameters
    ----------
    studies : mapping
        Method name -> optuna study; each needs at least 10 finished trials.
    evaluator : optuna.importance.BaseImportanceEvaluator, optional
        Default: ``PedAnovaImportanceEvaluator()``. PED-ANOVA asks which
        hyperparameters the best 10% of trials agree on, compared with all trials
        (Watanabe et al., 2023): a hyperparameter matters when the best configurations
        share a narrow range of it. It needs no model of the objective, so it stays
        steady with a few dozen trials, where fANOVA's random forest
        (``FanovaImportanceEvaluator(seed=...)``, optuna's default) can still swing.

    Returns
    -------
    pandas.DataFrame
        One row per method, one column per hyperparameter; each row sums to 1 (the
        importances are normalized). Columns run from the most important on average
        over the rows to the least (ties by name).

    Raises
    ------
    ValueError
        When a study has fewer than 10 finished trials.

    Examples
    --------
    >>> from optuna.distributions import FloatDistribution
    >>> from optuna.samplers import RandomSampler
    >>> space = {"big": FloatDistribution(0.0, 1.0), "small": FloatDistribution(0.0, 1.0)}
    >>> study = run_search(lambda p: round(-10 * (p["big"] - 0.3) ** 2 - 0.1 * p["small"], 6),
    ...                    space, RandomSampler(seed=0), n_trials=40)
    >>> list(importance_table({"random": study}).columns)
    ['big', 'small']
    """
    import optuna

    studies = _check_studies(studies)
    for name, study in studies.items():
        finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if len(finished) < 10:
            raise ValueError(f"studies[{name!r}] has {len(finished)} finished trial(s); an "
                             "importance estimate needs at least 10.")
    with _quiet_optuna():
        if evaluator is None:
            evaluator = optuna.importance.PedAnovaImportanceEvaluator()
        rows = {name: optuna.importance.get_param_importances(study, evaluator=evaluator)
                for name, study in studies.items()}
    table = pd.DataFrame({name: {p: float(v) for p, v in row.items()}
                          for name, row in rows.items()}).T.fillna(0.0)
    mean = table.mean(axis=0).round(12)
    order = sorted(table.columns, key=lambda p: (-mean[p], p))
    return table[order]
