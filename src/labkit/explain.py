"""Explaining a model and ablating it: what each input is worth, globally and locally.

What the explanation lab uses around the learner's code:

* :func:`permutation_table` and :func:`partial_dependence_frame`, thin wrappers over
  :func:`sklearn.inspection.permutation_importance` and
  :func:`sklearn.inspection.partial_dependence` that return labelled DataFrames (one row
  per input column, one column per class or per class group);
* :func:`linear_terms`, the exact local explanation of a one-hot linear model: how much
  each group of inputs adds to each class's score for one request;
* :func:`ablation`, the study the source recommends for a system made of parts: refit
  without each group of inputs in turn, keeping the rest, and measure what the removal
  costs.

Feature groups are a dict from a group's name to the input columns it holds, e.g.
``{"time": ["hour", "weekend"], "place": ["location"]}``; groups must not share columns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._validation import check_int

__all__ = ["ablation", "check_groups", "linear_terms", "partial_dependence_frame",
           "permutation_table"]

#: The default direction of the metrics :func:`ablation` knows.
DIRECTIONS = {"accuracy": "higher", "log loss": "lower"}


def check_groups(groups: Any, columns: Sequence[str] | None = None) -> dict[str, list[str]]:
    """Validate feature groups: non-empty, disjoint lists of column names.

    Parameters
    ----------
    groups : dict
        Group name -> list of column names (a single name is accepted too).
    columns : sequence of str, optional
        The columns that exist; every grouped column must be one of them.

    Returns
    -------
    dict of str to list of str

    Examples
    --------
    >>> check_groups({"time": ["hour", "weekend"], "place": "location"})
    {'time': ['hour', 'weekend'], 'place': ['location']}
    >>> check_groups({"a": ["x"], "b": ["x"]})
    Traceback (most recent call last):
    ...
    ValueError: column 'x' is in two groups ('a' and 'b'); each column belongs to one group.
    """
    if not isinstance(groups, Mapping) or not groups:
        raise TypeError("groups must be a non-empty dict: group name -> list of column names, "
                        "e.g. {'time': ['hour', 'weekend']}.")
    out: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    for name, cols in groups.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"group names must be non-empty strings, got {name!r}.")
        if isinstance(cols, str):
            cols = [cols]
        if not isinstance(cols, Sequence) or not cols or not all(isinstance(c, str)
                                                                 for c in cols):
            raise TypeError(f"group {name!r} must list its columns as a non-empty list of "
                            f"strings, got {cols!r}.")
        for col in cols:
            if col in owner:
                raise ValueError(f"column {col!r} is in two groups ({owner[col]!r} and "
                                 f"{name!r}); each column belongs to one group.")
            owner[col] = name
        out[name] = list(cols)
    if columns is not None:
        unknown = [c for c in owner if c not in set(columns)]
        if unknown:
            raise ValueError(f"grouped columns {unknown} are not among the model's inputs "
                             f"{list(columns)}.")
    return out


def _frame(X: Any, name: str = "X") -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame) or X.empty:
        raise TypeError(f"{name} must be a non-empty pandas DataFrame (one column per input, "
                        f"as the model was fitted on), got {type(X).__name__}.")
    return X


def permutation_table(model: Any, X: pd.DataFrame, y: Any, *,
                      groups: Mapping[str, Sequence[str]] | None = None,
                      scoring: str = "neg_log_loss", n_repeats: int = 5,
                      random_state: int | None = None) -> pd.DataFrame:
    """Permutation importance of each input column, as a table sorted by importance.

    Calls :func:`sklearn.inspection.permutation_importance`: each column of ``X`` is
    shuffled in turn (``n_repeats`` times) and the drop in ``scoring`` is recorded. With
    the default ``"neg_log_loss"`` an importance is how much the log loss rises, in nats
    per case, when the model can no longer use that column. It says how much *this
    fitted model* relies on a column; a model retrained without it may do as well
    (that is what :func:`ablation` measures).

    Parameters
    ----------
    model : estimator
        Fitted, taking ``X`` as it is.
    X : pandas.DataFrame
        Held-out inputs.
    y : array-like
        Their labels.
    groups : dict, optional
        Group name -> columns; adds a ``group`` column.
    scoring : str
        A scikit-learn scorer name (higher is better).
    n_repeats : int
        Shuffles per column.
    random_state : int, optional
        Seed of the shuffles.

    Returns
    -------
    pandas.DataFrame
        Indexed by column (index name ``"column"``), with ``importance`` (the mean drop
        in score), ``std`` and, with ``groups``, ``group``; most important first (ties
        in column order).

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"signal": rng.normal(size=300), "noise": rng.normal(size=300)})
    >>> y = (X["signal"] > 0).astype(int)
    >>> model = LogisticRegression().fit(X, y)
    >>> table = permutation_table(model, X, y, random_state=0)
    >>> list(table.index), bool(table.loc["signal", "importance"] > 0.1)
    (['signal', 'noise'], True)
    """
    from sklearn.inspection import permutation_importance

    X = _frame(X)
    n_repeats = check_int("n_repeats", n_repeats, minimum=1)
    if groups is not None:
        groups = check_groups(groups, list(X.columns))
    if not isinstance(scoring, str):
        raise TypeError(f"scoring must be a scikit-learn scorer name, got {scoring!r}.")
    result = permutation_importance(model, X, np.asarray(y), scoring=scoring,
                                    n_repeats=n_repeats, random_state=random_state)
    table = pd.DataFrame({"importance": result.importances_mean,
                          "std": result.importances_std},
                         index=pd.Index(list(X.columns), name="column"))
    if groups is not None:
        owner = {c: g for g, cols in groups.items() for c in cols}
        table["group"] = [owner.get(c, "(none)") for c in table.index]
    order = np.argsort(-table["importance"].round(10).to_numpy(), kind="stable")
    return table.iloc[order]


def partial_dependence_frame(model: Any, X: pd.DataFrame, feature: str, *,
                             grid: Sequence[Any] | None = None,
                             aggregate: Mapping[Any, str] | None = None) -> pd.DataFrame:
    """Partial dependence of the predicted class probabilities on one input column.

    Calls :func:`sklearn.inspection.partial_dependence` (``kind="average"``, the brute
    method): for each value in the grid, ``feature`` is set to that value in *every* row
    of ``X`` and the predicted probabilities are averaged. The curve shows what the model
    does with the feature while every other input keeps its observed mix, which a plain
    average of the labels by feature value does not (other inputs move with it). The
    feature is treated as categorical: the grid is its distinct values, or ``grid``.

    Parameters
    ----------
    model : classifier
        Fitted, with ``predict_proba`` and ``classes_``, taking ``X`` as it is.
    X : pandas.DataFrame
        The inputs to average over (a sample of held-out data is enough).
    feature : str
        A column of ``X``.
    grid : sequence, optional
        Values to set (default: the sorted distinct values of the column).
    aggregate : dict, optional
        Class -> label (e.g. app -> its category): the probabilities of the classes with
        one label are summed, which is the partial dependence of the label's probability.

    Returns
    -------
    pandas.DataFrame
        One row per grid value (index named after ``feature``), one column per class
        (or label, in order of first appearance).

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = pd.DataFrame({"hour": [7, 7, 20, 20] * 10, "home": [0, 1, 0, 1] * 10})
    >>> y = np.array(["news", "news", "games", "games"] * 10)
    >>> model = LogisticRegression().fit(X, y)
    >>> pdp = partial_dependence_frame(model, X, "hour")
    >>> list(pdp.index), list(pdp.columns)
    ([7, 20], ['games', 'news'])
    >>> bool(pdp.loc[7, "news"] > pdp.loc[20, "news"])
    True
    """
    from sklearn.inspection import partial_dependence

    X = _frame(X)
    if feature not in X.columns:
        raise ValueError(f"feature {feature!r} is not a column of X ({list(X.columns)}).")
    classes = list(getattr(model, "classes_", []))
    if len(classes) < 2:
        raise TypeError("model must be a fitted classifier with classes_ and predict_proba.")
    values = list(grid) if grid is not None else sorted(pd.unique(X[feature].dropna()))
    if not values:
        raise ValueError("the grid is empty: give values to set the feature to.")
    result = partial_dependence(model, X, [feature], categorical_features=[feature],
                                custom_values={feature: np.asarray(values)},
                                response_method="predict_proba", kind="average",
                                method="brute")
    average = np.asarray(result["average"], dtype=float)
    if average.shape[0] == 1 and len(classes) == 2:  # binary: scikit-learn keeps class 1
        average = np.vstack([1 - average[0], average[0]])
    grid_out = [v.item() if isinstance(v, np.generic) else v
                for v in result["grid_values"][0]]
    frame = pd.DataFrame(average.T, index=pd.Index(grid_out, name=feature),
                         columns=[c.item() if isinstance(c, np.generic) else c
                                  for c in classes])
    if aggregate is not None:
        if not isinstance(aggregate, Mapping):
            raise TypeError("aggregate must be a dict: class -> label.")
        missing = [c for c in frame.columns if c not in aggregate]
        if missing:
            raise ValueError(f"aggregate gives no label for classes {missing[:5]}.")
        labels = list(dict.fromkeys(aggregate[c] for c in frame.columns))
        frame = pd.DataFrame({label: frame[[c for c in frame.columns
                                            if aggregate[c] == label]].sum(axis=1)
                              for label in labels})
    return frame


def _onehot_layout(preprocess: Any, n_features: int) -> list[str]:
    """The input column behind each output column of a one-hot ColumnTransformer."""
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder

    if not isinstance(preprocess, ColumnTransformer):
        raise TypeError("linear_terms needs a Pipeline whose first step is a "
                        "ColumnTransformer of OneHotEncoders, got "
                        f"{type(preprocess).__name__}.")
    owner: list[str | None] = [None] * n_features
    for name, transformer, cols in preprocess.transformers_:
        if transformer == "drop" or name == "remainder" and transformer == "drop":
            continue
        cols = list(np.atleast_1d(cols))
        if any(not isinstance(c, str) for c in cols):
            raise TypeError("linear_terms needs the ColumnTransformer to select columns by "
                            "name.")
        out = preprocess.output_indices_[name]
        if isinstance(transformer, OneHotEncoder):
            if transformer.drop_idx_ is not None:
                raise ValueError("linear_terms needs OneHotEncoder(drop=None): with a dropped "
                                 "category the terms are relative to it.")
            widths = [len(c) for c in transformer.categories_]
        elif transformer == "passthrough" or out.stop - out.start == len(cols):
            widths = [1] * len(cols)
        else:
            raise TypeError(f"cannot tell which input column each output of {name!r} comes "
                            "from; use OneHotEncoder or a one-output-per-column transformer.")
        position = out.start
        for col, width in zip(cols, widths, strict=True):
            owner[position:position + width] = [col] * width
            position += width
    if any(o is None for o in owner):
        raise ValueError("some outputs of the ColumnTransformer belong to no input column.")
    return [str(o) for o in owner]


def linear_terms(pipeline: Any, row: pd.DataFrame,
                 groups: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """The exact local explanation of a linear model: each group's term in each score.

    For a pipeline of a one-hot ``ColumnTransformer`` and a linear classifier (with
    ``coef_`` and ``intercept_``, e.g. a multinomial ``LogisticRegression``), the score
    of class *k* is the intercept plus one coefficient per active one-hot column. The
    columns of one input group add up to that group's **term**; the terms and the
    intercept add up to the model's ``decision_function``. An input set to an unknown
    value (``None``) encodes as all zeros and contributes nothing.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted: a ColumnTransformer (of OneHotEncoders, by column name), then a linear
        classifier.
    row : pandas.DataFrame
        One request (one row), with the columns the pipeline was fitted on.
    groups : dict, optional
        Group name -> columns (default: one group per column).

    Returns
    -------
    pandas.DataFrame
        One row per group, then ``"intercept"``; one column per class.

    Examples
    --------
    >>> from sklearn.compose import ColumnTransformer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import OneHotEncoder
    >>> X = pd.DataFrame({"hour": [7, 20, 7, 20] * 5, "place": ["home", "home", "work",
    ...                   "work"] * 5})
    >>> y = ["news", "games", "news", "news"] * 5
    >>> encode = ColumnTransformer([("onehot", OneHotEncoder(), ["hour", "place"])])
    >>> model = make_pipeline(encode, LogisticRegression()).fit(X, y)
    >>> terms = linear_terms(model, X.iloc[[1]])
    >>> list(terms.index), list(terms.columns)
    (['hour', 'place', 'intercept'], ['games', 'news'])
    >>> bool(np.allclose(terms.sum().to_numpy()[1] - terms.sum().to_numpy()[0],
    ...                  model.decision_function(X.iloc[[1]])[0]))
    True
    """
    from sklearn.pipeline import Pipeline

    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) < 2:
        raise TypeError("linear_terms needs a fitted sklearn Pipeline: a ColumnTransformer "
                        f"then a linear classifier, got {type(pipeline).__name__}.")
    row = _frame(row, "row")
    if len(row) != 1:
        raise ValueError(f"row must hold exactly one request, got {len(row)} rows; select "
                         "one with frame.iloc[[i]].")
    final = pipeline.steps[-1][1]
    coef = getattr(final, "coef_", None)
    if coef is None or not hasattr(final, "intercept_"):
        raise TypeError("the pipeline's last step must be a fitted linear classifier with "
                        f"coef_ and intercept_, got {type(final).__name__}.")
    x = pipeline[:-1].transform(row)
    x = np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=float)[0]
    coef = np.asarray(coef, dtype=float)
    intercept = np.asarray(final.intercept_, dtype=float)
    classes = [c.item() if isinstance(c, np.generic) else c for c in final.classes_]
    if coef.shape[0] == 1 and len(classes) == 2:  # binary: one score, for class 1
        coef = np.vstack([np.zeros_like(coef[0]), coef[0]])
        intercept = np.array([0.0, intercept[0]])
    owner = _onehot_layout(pipeline.steps[0][1], len(x))
    inputs = list(dict.fromkeys(owner))
    groups = check_groups(groups if groups is not None else {c: [c] for c in inputs}, inputs)
    rows = {}
    for name, cols in groups.items():
        mask = np.isin(owner, cols)
        rows[name] = coef[:, mask] @ x[mask]
    rows["intercept"] = intercept
    return pd.DataFrame(rows, index=classes).T


def ablation(fit_score: Callable[[list[str]], Mapping[str, float]],
             groups: Mapping[str, Sequence[str]], *,
             directions: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Refit without each group of inputs in turn, keeping the rest; tabulate the cost.

    ``fit_score(columns)`` must train a fresh model on ``columns`` (a list of input
    column names) and return its held-out metrics as a dict. It is called once with
    every grouped column, then once per group without that group's columns. The cost of
    removing a group is how much worse each metric gets: the drop in a metric where
    higher is better, the rise in one where lower is better (see ``directions``).
    Positive means the group was worth keeping; a cost near zero marks a group whose
    removal makes the system simpler at almost no loss.

    Parameters
    ----------
    fit_score : callable
        ``fit_score(columns) -> {metric: value}``, the same metrics on every call.
    groups : dict
        Group name -> columns.
    directions : dict, optional
        Metric -> ``"higher"`` or ``"lower"`` (which way is better); default
        :data:`DIRECTIONS`. Metrics not listed (e.g. a feature count) get no cost.

    Returns
    -------
    pandas.DataFrame
        Indexed by what was removed (``"nothing"``, then each group; index name
        ``"removed"``), with each metric, then ``"<metric> cost"`` for each metric with
        a direction.

    Examples
    --------
    >>> def fit_score(columns):   # a fake model: each column adds a known accuracy
    ...     worth = {"hour": 0.10, "place": 0.05, "battery": 0.0}
    ...     return {"accuracy": 0.5 + sum(worth[c] for c in columns)}
    >>> table = ablation(fit_score, {"time": ["hour"], "place": ["place"],
    ...                              "battery": ["battery"]})
    >>> table["accuracy cost"].round(3).to_dict()
    {'nothing': 0.0, 'time': 0.1, 'place': 0.05, 'battery': 0.0}
    """
    if not callable(fit_score):
        raise TypeError("fit_score must be a function: columns -> dict of metrics.")
    groups = check_groups(groups)
    directions = dict(DIRECTIONS if directions is None else directions)
    for metric, way in directions.items():
        if way not in ("higher", "lower"):
            raise ValueError(f"directions[{metric!r}] must be 'higher' or 'lower', got {way!r}.")
    every = [c for cols in groups.values() for c in cols]
    runs = {"nothing": every}
    runs.update({name: [c for c in every if c not in set(cols)]
                 for name, cols in groups.items()})
    rows = {}
    for removed, columns in runs.items():
        metrics = fit_score(list(columns))
        if not isinstance(metrics, Mapping) or not metrics:
            raise TypeError("fit_score must return a non-empty dict of metrics, got "
                            f"{type(metrics).__name__}.")
        rows[removed] = {str(k): float(v) for k, v in metrics.items()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    if table.isna().any().any():
        raise ValueError("fit_score returned different metrics on different calls.")
    table.index.name = "removed"
    for metric, way in directions.items():
        if metric in table.columns:
            base = table.loc["nothing", metric]
            table[f"{metric} cost"] = (base - table[metric] if way == "higher"
                                       else table[metric] - base)
    return table
