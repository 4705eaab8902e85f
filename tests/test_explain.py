"""labkit.explain: permutation importance and partial dependence (checked against
scikit-learn's own functions and a by-hand computation), a linear model's exact terms, and
the ablation over feature groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.tree import DecisionTreeClassifier

from labkit.explain import (
    ablation,
    check_groups,
    linear_terms,
    partial_dependence_frame,
    permutation_table,
)

GROUPS = {"time": ["hour", "weekend"], "place": ["location"], "who": ["user"]}


def _data(n=400, seed=0, n_classes=4):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "hour": rng.integers(0, 24, n),
        "weekend": rng.random(n) < 0.3,
        "location": rng.choice(["home", "work", "other"], n),
        "user": rng.integers(0, 15, n),
    })
    score = (X["hour"] // 6) + 2 * (X["location"] == "work") + (X["user"] % 3 == 0)
    y = (score + rng.integers(0, 2, n)) % n_classes
    return X, y.to_numpy()


def _onehot_model(X, y, **encoder):
    encode = ColumnTransformer([("onehot", OneHotEncoder(handle_unknown="ignore", **encoder),
                                 list(X.columns))])
    return make_pipeline(encode, LogisticRegression(max_iter=1000)).fit(X, y)


@pytest.fixture(scope="module")
def fitted():
    X, y = _data()
    return _onehot_model(X, y), X, y


# ---------------------------------------------------------------- groups


def test_check_groups_accepts_and_normalises():
    assert check_groups({"a": "x", "b": ("y", "z")}, ["x", "y", "z"]) == {"a": ["x"],
                                                                        "b": ["y", "z"]}


@pytest.mark.parametrize("groups, columns, error, words", [
    ([("a", ["x"])], None, TypeError, "dict"),
    ({}, None, TypeError, "non-empty"),
    ({"a": []}, None, TypeError, "non-empty list"),
    ({"a": [1]}, None, TypeError, "strings"),
    ({"": ["x"]}, None, TypeError, "group names"),
    ({"a": ["x"], "b": ["x"]}, None, ValueError, "two groups"),
    ({"a": ["x", "q"]}, ["x"], ValueError, "not among"),
])
def test_check_groups_rejects_bad_groups(groups, columns, error, words):
    with pytest.raises(error, match=words):
        check_groups(groups, columns)


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.none(), st.integers(), st.text(), st.lists(st.text()),
                 st.dictionaries(st.one_of(st.text(), st.integers()),
                                 st.one_of(st.text(), st.lists(st.one_of(st.text(),
                                                                         st.integers()))))))
def test_check_groups_fails_only_with_clear_errors(groups):
    try:
        check_groups(groups)
    except (TypeError, ValueError) as exc:
        assert str(exc)


# ---------------------------------------------------------------- permutation importance


def test_permutation_table_is_sklearns_permutation_importance(fitted):
    model, X, y = fitted
    table = permutation_table(model, X, y, groups=GROUPS, n_repeats=3, random_state=1)
    reference = permutation_importance(model, X, y, scoring="neg_log_loss", n_repeats=3,
                                       random_state=1)
    want = pd.Series(reference.importances_mean, index=X.columns)
    assert np.allclose(table["importance"], want[table.index])
    assert np.allclose(table["std"], pd.Series(reference.importances_std,
                                               index=X.columns)[table.index])
    assert (np.diff(table["importance"].to_numpy()) <= 1e-12).all()
    assert table.loc["location", "group"] == "place" and table.index.name == "column"


def test_permutation_table_finds_the_signal_and_not_the_noise():
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"signal": rng.normal(size=500), "noise": rng.normal(size=500)})
    y = (X["signal"] + 0.3 * rng.normal(size=500) > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    table = permutation_table(model, X, y, random_state=0, scoring="accuracy")
    assert list(table.index) == ["signal", "noise"] and "group" not in table
    assert table.loc["signal", "importance"] > 0.2 > abs(table.loc["noise", "importance"])


@pytest.mark.parametrize("kwargs, error", [
    ({"X": np.zeros((3, 2))}, TypeError),
    ({"n_repeats": 0}, ValueError),
    ({"groups": {"a": ["nope"]}}, ValueError),
    ({"scoring": 3}, TypeError),
])
def test_permutation_table_rejects_bad_input(fitted, kwargs, error):
    model, X, y = fitted
    args = {"X": X} | kwargs
    with pytest.raises(error):
        permutation_table(model, args.pop("X"), y, **args)


# ---------------------------------------------------------------- partial dependence


def _by_hand(model, X, feature, grid):
    rows = []
    for value in grid:
        changed = X.copy()
        changed[feature] = value
        rows.append(model.predict_proba(changed).mean(axis=0))
    return np.array(rows)


def test_partial_dependence_is_the_average_prediction_with_the_feature_set(fitted):
    model, X, _ = fitted
    pdp = partial_dependence_frame(model, X, "hour", grid=[0, 6, 12, 18])
    assert list(pdp.index) == [0, 6, 12, 18] and pdp.index.name == "hour"
    assert list(pdp.columns) == list(model.classes_)
    assert np.allclose(pdp.to_numpy(), _by_hand(model, X, "hour", [0, 6, 12, 18]))
    assert np.allclose(pdp.sum(axis=1), 1.0)


def test_partial_dependence_defaults_to_the_values_seen_and_works_on_strings(fitted):
    model, X, _ = fitted
    pdp = partial_dependence_frame(model, X, "location")
    assert list(pdp.index) == ["home", "other", "work"]
    assert np.allclose(pdp.to_numpy(), _by_hand(model, X, "location", pdp.index))


def test_partial_dependence_sums_classes_into_labels(fitted):
    model, X, _ = fitted
    labels = {0: "low", 1: "low", 2: "high", 3: "high"}
    pdp = partial_dependence_frame(model, X, "hour", grid=[3, 15], aggregate=labels)
    full = partial_dependence_frame(model, X, "hour", grid=[3, 15])
    assert list(pdp.columns) == ["low", "high"]
    assert np.allclose(pdp["low"], full[0] + full[1])
    with pytest.raises(ValueError, match="no label"):
        partial_dependence_frame(model, X, "hour", grid=[3], aggregate={0: "a"})


def test_partial_dependence_of_a_binary_model_has_both_classes():
    X, y = _data(n_classes=2)
    model = _onehot_model(X, y)
    pdp = partial_dependence_frame(model, X, "hour", grid=[1, 20])
    assert list(pdp.columns) == [0, 1]
    assert np.allclose(pdp.to_numpy(), _by_hand(model, X, "hour", [1, 20]))


@pytest.mark.parametrize("kwargs, error", [
    ({"feature": "nope"}, ValueError),
    ({"grid": []}, ValueError),
    ({"aggregate": ["a"]}, TypeError),
])
def test_partial_dependence_rejects_bad_input(fitted, kwargs, error):
    model, X, _ = fitted
    args = {"feature": "hour"} | kwargs
    with pytest.raises(error):
        partial_dependence_frame(model, X, args.pop("feature"), **args)


def test_partial_dependence_needs_a_classifier(fitted):
    _, X, _ = fitted
    with pytest.raises(TypeError, match="classifier"):
        partial_dependence_frame(object(), X, "hour")


# ---------------------------------------------------------------- linear terms


def test_terms_add_up_to_the_decision_function(fitted):
    model, X, _ = fitted
    for i in range(5):
        row = X.iloc[[i]]
        terms = linear_terms(model, row, GROUPS)
        assert list(terms.index) == [*GROUPS, "intercept"]
        assert np.allclose(terms.sum().to_numpy(), model.decision_function(row)[0])


def test_terms_of_a_group_are_the_sum_of_its_columns(fitted):
    model, X, _ = fitted
    row = X.iloc[[7]]
    per_column = linear_terms(model, row)
    grouped = linear_terms(model, row, GROUPS)
    assert list(per_column.index) == [*X.columns, "intercept"]
    assert np.allclose(grouped.loc["time"], per_column.loc["hour"] + per_column.loc["weekend"])


def test_an_unknown_input_has_no_term_and_hiding_it_removes_its_term(fitted):
    model, X, _ = fitted
    row = X.iloc[[3]]
    hidden = row.copy()
    hidden[["location"]] = None
    assert np.allclose(linear_terms(model, hidden, GROUPS).loc["place"], 0.0)
    terms = linear_terms(model, row, GROUPS)
    assert np.allclose(model.decision_function(hidden)[0],
                       model.decision_function(row)[0] - terms.loc["place"].to_numpy())


def test_terms_of_a_binary_model():
    X, y = _data(n_classes=2)
    model = _onehot_model(X, y)
    row = X.iloc[[0]]
    terms = linear_terms(model, row)
    assert list(terms.columns) == [0, 1] and np.allclose(terms[0], 0.0)
    assert np.isclose(terms[1].sum(), model.decision_function(row)[0])


def test_terms_with_a_passthrough_column():
    X, y = _data()
    encode = ColumnTransformer([("onehot", OneHotEncoder(), ["location"]),
                                ("raw", "passthrough", ["hour"])])
    model = make_pipeline(encode, LogisticRegression(max_iter=2000)).fit(X[["location", "hour"]],
                                                                          y)
    row = X[["location", "hour"]].iloc[[2]]
    terms = linear_terms(model, row)
    assert np.allclose(terms.loc["hour"], model[-1].coef_[:, -1] * row["hour"].iloc[0])
    assert np.allclose(terms.sum().to_numpy(), model.decision_function(row)[0])


def test_linear_terms_rejects_what_it_cannot_explain(fitted):
    model, X, y = fitted
    with pytest.raises(TypeError, match="Pipeline"):
        linear_terms(model[-1], X.iloc[[0]])
    with pytest.raises(ValueError, match="exactly one"):
        linear_terms(model, X.iloc[:2])
    tree = make_pipeline(model[0], DecisionTreeClassifier(max_depth=2)).fit(X, y)
    with pytest.raises(TypeError, match="linear classifier"):
        linear_terms(tree, X.iloc[[0]])
    dropped = _onehot_model(X, y, drop="first")
    with pytest.raises(ValueError, match="drop=None"):
        linear_terms(dropped, X.iloc[[0]])
    with pytest.raises(ValueError, match="not among"):
        linear_terms(model, X.iloc[[0]], {"x": ["nope"]})


# ---------------------------------------------------------------- ablation


def test_ablation_refits_without_each_group_keeping_the_rest():
    calls = []

    def fit_score(columns):
        calls.append(list(columns))
        worth = {"hour": 0.2, "weekend": 0.01, "location": 0.1, "user": 0.0}
        gain = sum(worth[c] for c in columns)
        return {"accuracy": 0.3 + gain, "log loss": 3.0 - gain, "features": 10 * len(columns)}

    table = ablation(fit_score, GROUPS)
    assert calls == [["hour", "weekend", "location", "user"], ["location", "user"],
                     ["hour", "weekend", "user"], ["hour", "weekend", "location"]]
    assert list(table.index) == ["nothing", *GROUPS] and table.index.name == "removed"
    assert np.allclose(table["accuracy cost"], [0.0, 0.21, 0.1, 0.0])
    assert np.allclose(table["log loss cost"], [0.0, 0.21, 0.1, 0.0])
    assert "features cost" not in table and list(table["features"]) == [40, 20, 30, 30]


def test_ablation_directions_decide_the_sign_of_the_cost():
    table = ablation(lambda cols: {"score": float(len(cols))}, {"a": ["x"], "b": ["y"]},
                     directions={"score": "lower"})
    assert list(table["score cost"]) == [0.0, -1.0, -1.0]


def test_ablation_on_a_real_model_finds_a_redundant_group():
    """A copy of the user id is worth nothing once the original is there."""
    X, y = _data()
    X = X.assign(user_copy=X["user"] + 100)
    groups = {"time": ["hour", "weekend"], "place": ["location"], "who": ["user"],
              "copy": ["user_copy"]}

    def fit_score(columns):
        model = _onehot_model(X[columns], y)
        p = model.predict_proba(X[columns])[np.arange(len(y)), y]
        return {"log loss": float(-np.mean(np.log(p)))}

    table = ablation(fit_score, groups)
    cost = table["log loss cost"]
    assert abs(cost["copy"]) < 0.01 and abs(cost["who"]) < 0.01
    assert cost["time"] > 0.1


@pytest.mark.parametrize("fit_score, groups, directions, error", [
    ("f", GROUPS, None, TypeError),
    (lambda c: 1.0, GROUPS, None, TypeError),
    (lambda c: {}, GROUPS, None, TypeError),
    (lambda c: {"a": 1.0} if len(c) == 4 else {"b": 1.0}, GROUPS, None, ValueError),
    (lambda c: {"a": 1.0}, GROUPS, {"a": "up"}, ValueError),
    (lambda c: {"a": 1.0}, {}, None, TypeError),
])
def test_ablation_rejects_bad_input(fit_score, groups, directions, error):
    with pytest.raises(error):
        ablation(fit_score, groups, directions=directions)
