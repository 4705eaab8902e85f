"""Tests of labkit.checks.lab07: the checks pass correct answers and catch plausible slips.

The reference implementations below are test oracles written independently of the
solution notebook; labkit itself never ships them.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from labkit.checks import RESULTS_ENV, lab07

# ---------------------------------------------------------------- reference answers


def ref_random(train_apps, eval_apps, n_apps, strategy):
    if strategy == "uniform":
        return 1 / n_apps
    guesses = np.zeros(n_apps)
    for app in train_apps:
        guesses[app] += 1 / len(train_apps)
    return float(sum(guesses[app] for app in eval_apps) / len(eval_apps))


def ref_scores(train_users, train_apps, n_users, n_apps):
    """Rank by (own count, global count, -app id), written as an explicit sort key."""
    counts = np.zeros((n_users, n_apps), dtype=int)
    for user, app in zip(train_users, train_apps, strict=True):
        counts[user, app] += 1
    popular = counts.sum(axis=0)
    scores = np.zeros((n_users, n_apps))
    for user in range(n_users):
        order = sorted(range(n_apps), key=lambda a: (-counts[user, a], -popular[a], a))
        scores[user, order] = np.arange(n_apps, 0, -1)
    return scores


# ---------------------------------------------------------------- this run's data


def _run_labels(seed=0, n_train=600, n_eval=200, n_apps=8):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(n_apps))
    q = rng.dirichlet(np.ones(n_apps))
    return rng.choice(n_apps, n_train, p=p), rng.choice(n_apps, n_eval, p=q), n_apps


def _run_events(seed=0, n_users=40, n_apps=10, n_events=500):
    """Events of users 0..n_users-3; the last two users have no history (cold start)."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users - 2, n_events)
    taste = rng.dirichlet(np.full(n_apps, 0.5), n_users)
    apps = np.array([rng.choice(n_apps, p=taste[u]) for u in users])
    return users, apps, n_users, n_apps


# ---------------------------------------------------------------- expected_random_accuracy


def test_random_passes_the_reference(capsys):
    lab07.expected_random_accuracy(ref_random, *_run_labels())
    assert "[ok] expected_random_accuracy" in capsys.readouterr().out


def random_squared_train(train_apps, eval_apps, n_apps, strategy):
    return ref_random(train_apps, train_apps, n_apps, strategy)


def random_squared_eval(train_apps, eval_apps, n_apps, strategy):
    return ref_random(eval_apps, eval_apps, n_apps, strategy)


def random_seen_in_eval(train_apps, eval_apps, n_apps, strategy):
    if strategy == "uniform":
        return 1 / len(np.unique(eval_apps))
    return ref_random(train_apps, eval_apps, n_apps, strategy)


def random_always_uniform(train_apps, eval_apps, n_apps, strategy):
    return 1 / n_apps


def random_no_minlength(train_apps, eval_apps, n_apps, strategy):
    if strategy == "uniform":
        return 1 / n_apps
    p = np.bincount(train_apps) / len(train_apps)
    q = np.bincount(eval_apps) / len(eval_apps)
    return float(p @ q)


def random_one_draw(train_apps, eval_apps, n_apps, strategy):
    """Simulates the guesses instead of taking the expectation."""
    rng = np.random.default_rng(0)
    if strategy == "uniform":
        guesses = rng.integers(0, n_apps, len(eval_apps))
    else:
        p = np.bincount(train_apps, minlength=n_apps) / len(train_apps)
        guesses = rng.choice(n_apps, len(eval_apps), p=p)
    return float(np.mean(guesses == np.asarray(eval_apps)))


def random_returns_array(train_apps, eval_apps, n_apps, strategy):
    return np.full(3, ref_random(train_apps, eval_apps, n_apps, strategy))


@pytest.mark.parametrize("wrong, words", [
    (random_squared_train, "sum of the squared training shares"),
    (random_squared_eval, "evaluation labels' shares for the guesses"),
    (random_seen_in_eval, "apps seen in the evaluation data"),
    (random_always_uniform, "that is the uniform guess"),
    (random_no_minlength, "raised ValueError"),
    (random_one_draw, "the answer is"),
    (random_returns_array, "single number"),
])
def test_random_catches_slips(wrong, words):
    with pytest.raises(AssertionError, match=words):
        lab07.expected_random_accuracy(wrong, *_run_labels())


def test_random_reports_an_unimplemented_answer():
    def stub(*args):
        raise NotImplementedError("hint")

    with pytest.raises(AssertionError, match="not implemented"):
        lab07.expected_random_accuracy(stub, *_run_labels())


def test_random_catches_a_slip_only_visible_on_the_run_data():
    """Right on the worked examples, wrong once more than four apps exist."""
    def first_four(train_apps, eval_apps, n_apps, strategy):
        if strategy == "uniform":
            return 1 / n_apps
        keep = [a for a in eval_apps if a < 4]
        return ref_random(train_apps, keep, n_apps, strategy) * len(keep) / len(eval_apps)

    with pytest.raises(AssertionError, match="on this run's data the prior guess"):
        lab07.expected_random_accuracy(first_four, *_run_labels())


@pytest.mark.parametrize("args, words", [
    ((np.array([0, 1]), np.array([1, 5]), 3), "app ids from 0 to n_apps - 1"),
    ((np.array([[0, 1]]), np.array([1]), 3), "1-d array"),
    ((np.array([0, 1]), np.array([], dtype=int), 3), "non-empty"),
    ((np.array([0.5, 1.0]), np.array([1]), 3), "app ids"),
    ((np.array([0, 1]), np.array([1]), 1), "at least 2"),
])
def test_random_rejects_bad_input(args, words):
    with pytest.raises(AssertionError, match=words):
        lab07.expected_random_accuracy(ref_random, *args)


# ---------------------------------------------------------------- user_app_scores


def test_scores_pass_the_reference(capsys):
    lab07.user_app_scores(ref_scores, *_run_events())
    assert "[ok] user_app_scores" in capsys.readouterr().out


def test_scores_pass_the_solutions_form(capsys):
    def shares(train_users, train_apps, n_users, n_apps):
        counts = np.zeros((n_users, n_apps))
        np.add.at(counts, (train_users, train_apps), 1)
        return counts + np.bincount(train_apps, minlength=n_apps) / len(train_apps)

    lab07.user_app_scores(shares, *_run_events())
    assert "[ok] user_app_scores" in capsys.readouterr().out


def _counts(train_users, train_apps, n_users, n_apps):
    counts = np.zeros((n_users, n_apps))
    np.add.at(counts, (np.asarray(train_users), np.asarray(train_apps)), 1)
    return counts


def scores_plain(train_users, train_apps, n_users, n_apps):
    return _counts(train_users, train_apps, n_users, n_apps)


def scores_id_ties(train_users, train_apps, n_users, n_apps):
    """Cold users get the global counts, but ties inside a user go to the lowest id."""
    counts = _counts(train_users, train_apps, n_users, n_apps)
    cold = counts.sum(axis=1) == 0
    counts[cold] = np.bincount(train_apps, minlength=n_apps)
    return counts


def scores_swamped(train_users, train_apps, n_users, n_apps):
    counts = _counts(train_users, train_apps, n_users, n_apps)
    return counts + np.bincount(train_apps, minlength=n_apps)


def scores_ascending(train_users, train_apps, n_users, n_apps):
    counts = _counts(train_users, train_apps, n_users, n_apps)
    return counts - np.bincount(train_apps, minlength=n_apps) / len(train_apps)


def scores_transposed(train_users, train_apps, n_users, n_apps):
    return ref_scores(train_users, train_apps, n_users, n_apps).T


def scores_top_app(train_users, train_apps, n_users, n_apps):
    return ref_scores(train_users, train_apps, n_users, n_apps).argmax(axis=1)


def scores_nan(train_users, train_apps, n_users, n_apps):
    counts = _counts(train_users, train_apps, n_users, n_apps)
    with np.errstate(invalid="ignore"):
        return counts / counts.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("wrong, words", [
    (scores_plain, "users without history"),
    (scores_id_ties, "not to the lower app id"),
    (scores_swamped, "global counts should only break ties"),
    (scores_ascending, "looks reversed"),
    (scores_transposed, "shape \\(n_users, n_apps\\) = \\(5, 4\\); got shape \\(4, 5\\)"),
    (scores_top_app, "one row per user and one column per app"),
    (scores_nan, "NaN or infinite"),
])
def test_scores_catch_slips(wrong, words):
    with pytest.raises(AssertionError, match=words):
        lab07.user_app_scores(wrong, *_run_events())


def test_scores_catch_shares_added_to_shares_on_the_run_data():
    """Per-user shares plus global shares pass the worked example, not the run's data."""
    def both_shares(train_users, train_apps, n_users, n_apps):
        counts = _counts(train_users, train_apps, n_users, n_apps)
        own = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        return own + np.bincount(train_apps, minlength=n_apps) / len(train_apps)

    with pytest.raises(AssertionError, match="top app is not one they opened most often"):
        lab07.user_app_scores(both_shares, *_run_events())


def test_scores_catch_ties_broken_by_recency_on_the_run_data():
    """Ties to the app the user opened last: right on the worked example (where the later
    app of user 1's tie is also the more popular one), wrong on the run's data."""
    def recency_ties(train_users, train_apps, n_users, n_apps):
        counts = _counts(train_users, train_apps, n_users, n_apps)
        last = np.zeros((n_users, n_apps))
        n = len(train_users)
        last[train_users, train_apps] = (np.arange(n) + 1) / (2 * n + 2)
        popular = np.bincount(train_apps, minlength=n_apps) / len(train_apps)
        return counts + last + 0.01 * popular

    with pytest.raises(AssertionError, match="opened most often overall|shuffling"):
        lab07.user_app_scores(recency_ties, *_run_events())


@pytest.mark.parametrize("args, words", [
    ((np.array([0, 1]), np.array([1]), 3, 4), "two 1-d integer arrays of equal length"),
    ((np.array([0, 7]), np.array([1, 1]), 3, 4), "user ids must lie"),
    ((np.array([0, 1]), np.array([1, 9]), 3, 4), "app ids in 0..n_apps-1"),
    ((np.array([0, 1]), np.array([1, 1]), 3.0, 4), "integers"),
])
def test_scores_reject_bad_input(args, words):
    with pytest.raises(AssertionError, match=words):
        lab07.user_app_scores(ref_scores, *args)


def test_scores_report_a_crash_on_the_worked_example():
    def crash(train_users, train_apps, n_users, n_apps):
        return np.zeros((n_users, n_apps))[train_users, train_apps + 10]

    with pytest.raises(AssertionError, match="for train_users=.* your function raised IndexError"):
        lab07.user_app_scores(crash, *_run_events())


# ---------------------------------------------------------------- decisions

NAMES = [lab07.FLOOR, "random (label prior)", lab07.GLOBAL, lab07.HEURISTIC,
         "logistic regression", "decision tree", "gradient boosting", "MLP (torch)"]


def _table(accuracy=(0.033, 0.058, 0.161, 0.259, 0.302, 0.234, 0.293, 0.292),
           single=(0.003, 0.008, 0.0007, 0.001, 0.1, 0.12, 30.0, 0.02),
           batch=(1e-5, 6e-5, 1e-5, 1e-5, 7e-4, 6e-4, 0.25, 7e-4),
           train=(1e-5, 1e-4, 1e-4, 2e-3, 2.0, 0.3, 5.0, 3.0)):
    return pd.DataFrame({"top-1 accuracy": accuracy, "train s": train, "single ms": single,
                         "batch ms per request": batch}, index=pd.Index(NAMES, name="model"))


def _share(table):
    acc = table["top-1 accuracy"]
    return (acc[lab07.HEURISTIC] - acc[lab07.FLOOR]) / (acc.max() - acc[lab07.FLOOR])


def test_heuristic_share_accepts_the_right_share(capsys):
    table = _table()
    lab07.heuristic_share(_share(table), table)
    lab07.heuristic_share(np.float64(_share(table)), table)
    assert capsys.readouterr().out.count("[ok] heuristic_share") == 2


@pytest.mark.parametrize("wrong, words", [
    (lambda a: a[lab07.HEURISTIC] / a.max(), "ratio of the two accuracies"),
    (lambda a: (a[lab07.HEURISTIC] - a[lab07.GLOBAL]) / (a.max() - a[lab07.GLOBAL]),
     "from the global most-frequent baseline"),
    (lambda a: 100 * (a[lab07.HEURISTIC] - a[lab07.FLOOR]) / (a.max() - a[lab07.FLOOR]),
     "percentage"),
    (lambda a: 1 - (a[lab07.HEURISTIC] - a[lab07.FLOOR]) / (a.max() - a[lab07.FLOOR]),
     "does \\*not\\* get"),
    (lambda a: 0.5, "divide the heuristic's gain"),
])
def test_heuristic_share_catches_slips(wrong, words):
    table = _table()
    with pytest.raises(AssertionError, match=words):
        lab07.heuristic_share(wrong(table["top-1 accuracy"]), table)


@pytest.mark.parametrize("value, table, words", [
    ("0.8", _table(), "single number"),
    (True, _table(), "single number"),
    ([0.8], _table(), "single number"),
    (0.8, _table().drop(columns="top-1 accuracy"), "'top-1 accuracy' column"),
    (0.8, _table().drop(index=lab07.HEURISTIC), "needs the row"),
    (0.8, _table().drop(index=lab07.FLOOR), "needs the row"),
    (0.8, _table(accuracy=(0.3,) * 8), "no model beats random"),
    (0.8, np.zeros((8, 4)), "DataFrame"),
])
def test_heuristic_share_rejects_bad_input(value, table, words):
    with pytest.raises(AssertionError, match=words):
        lab07.heuristic_share(value, table)


def test_too_slow_accepts_the_right_models(capsys):
    lab07.too_slow(["gradient boosting"], _table(), 1.0)
    lab07.too_slow("gradient boosting", _table(), 1.0)
    lab07.too_slow([], _table(), 100.0)
    lab07.too_slow(np.array(["gradient boosting"]), _table(), 1.0)
    lab07.too_slow(pd.Index(["gradient boosting"]), _table(), 1.0)
    assert capsys.readouterr().out.count("[ok] too_slow") == 5


@pytest.mark.parametrize("value, budget, words", [
    ([], 1.0, "batch latency per request"),
    (["gradient boosting", "decision tree"], 1.0, "answer one request within the budget"),
    (["logistic regression", "MLP (torch)", "gradient boosting"], 1.0, "training time"),
    (["decision tree", "gradient boosting"], 0.05, "is missing"),
    (["gradient boosting"], 0.05, "batch latency per request"),
    (["boosting"], 1.0, "not rows of the table"),
    (3, 1.0, "list of model names"),
])
def test_too_slow_catches_slips(value, budget, words):
    with pytest.raises(AssertionError, match=words):
        lab07.too_slow(value, _table(), budget)


def test_launch_accepts_the_simplest_qualifying_model(capsys):
    lab07.launch(lab07.HEURISTIC, _table(), 1.0, 2 / 3)
    lab07.launch("logistic regression", _table(), 1.0, 0.95)
    lab07.launch("MLP (torch)", _table(), 0.05, 0.95)
    lab07.launch(" Per-User Most Frequent ", _table(), 1.0, 2 / 3)
    assert capsys.readouterr().out.count("[ok] launch") == 4


@pytest.mark.parametrize("value, budget, share, words", [
    ("logistic regression", 1.0, 2 / 3, "a simpler model than 'logistic regression'"),
    ("gradient boosting", 100.0, 0.9, "a simpler model"),
    ("gradient boosting", 1.0, 0.9, "slower than the budget"),
    ("logistic regression", 0.05, 0.95, "slower than the budget"),
    ("decision tree", 1.0, 0.9, "less than the required share"),
    ("global most frequent", 1.0, 2 / 3, "less than the required share"),
    ("xgboost", 1.0, 2 / 3, "answer with one of"),
    (None, 1.0, 2 / 3, "a string"),
    (lab07.HEURISTIC, 0.0001, 0.99, "no model in the table meets both"),
])
def test_launch_catches_slips(value, budget, share, words):
    with pytest.raises(AssertionError, match=words):
        lab07.launch(value, _table(), budget, share)


# ---------------------------------------------------------------- recording and secrecy


def test_checks_record_plain_json(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    train, held, n_apps = _run_labels()
    lab07.expected_random_accuracy(ref_random, train, held, n_apps)
    events = _run_events()
    lab07.user_app_scores(ref_scores, *events)
    table = _table()
    lab07.heuristic_share(_share(table), table)
    lab07.too_slow(["gradient boosting"], table, 1.0)
    lab07.launch(lab07.HEURISTIC, table, 1.0, 2 / 3)

    rand = json.loads((tmp_path / "expected_random_accuracy.json").read_text())
    assert rand["values"]["prior"]["array"] == pytest.approx(
        ref_random(train, held, n_apps, "prior"))
    scores = json.loads((tmp_path / "user_app_scores.json").read_text())
    assert scores["values"]["top3"]["shape"] == [events[2], 3]
    want = np.argsort(-ref_scores(*events), axis=1, kind="stable")[:, :3]
    assert np.array_equal(np.reshape(scores["values"]["top3"]["array"], want.shape), want)
    share = json.loads((tmp_path / "heuristic_share.json").read_text())["values"]["share"]
    assert share["between"]["array"] == pytest.approx([_share(table) - 0.01,
                                                       _share(table) + 0.01])
    slow = json.loads((tmp_path / "too_slow.json").read_text())["values"]["models"]
    assert slow == {"decision": "gradient boosting", "accepted": ["gradient boosting"]}
    launched = json.loads((tmp_path / "launch.json").read_text())["values"]["model"]
    assert launched == {"decision": lab07.HEURISTIC, "accepted": [lab07.HEURISTIC]}


def test_a_wrong_decision_is_recorded_with_the_right_accepted_answer(tmp_path, monkeypatch):
    """The grader uses the reference's accepted set; a submission's own is ignored, but the
    check must still record what the learner decided."""
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    with pytest.raises(AssertionError):
        lab07.launch("logistic regression", _table(), 1.0, 2 / 3)
    launched = json.loads((tmp_path / "launch.json").read_text())["values"]["model"]
    assert launched == {"decision": "logistic regression", "accepted": [lab07.HEURISTIC]}


@pytest.mark.parametrize("wrong", [random_squared_train, random_always_uniform,
                                   random_one_draw])
def test_random_messages_never_reveal_values_from_the_run_data(wrong):
    train, held, n_apps = _run_labels()
    secret = ref_random(train, held, n_apps, "prior")
    with pytest.raises(AssertionError) as info:
        lab07.expected_random_accuracy(wrong, train, held, n_apps)
    for digits in (2, 3, 4):
        assert f"{secret:.{digits}f}" not in str(info.value)


def test_share_messages_never_reveal_the_share():
    table = _table()
    secret = _share(table)
    with pytest.raises(AssertionError) as info:
        lab07.heuristic_share(table["top-1 accuracy"][lab07.HEURISTIC] / 0.302, table)
    for digits in (2, 3, 4):
        assert f"{secret:.{digits}f}" not in str(info.value)
        assert f"{100 * secret:.{max(digits - 2, 0)}f}%" not in str(info.value)
