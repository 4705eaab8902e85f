"""Tests of labkit.checks.lab03: the checks pass correct answers and catch plausible slips.

The reference implementations below are test oracles written independently of the
solution notebook (loops where the solution is vectorized); labkit never ships them.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from labkit.checks import RESULTS_ENV, lab03

# ---------------------------------------------------------------- reference answers


def ref_make_pairs(positive_apps, days, release_day, n_negatives, rng):
    rows = []
    release_day = np.asarray(release_day)
    for i, (app, day) in enumerate(zip(np.asarray(positive_apps), np.asarray(days),
                                       strict=True)):
        candidates = [a for a in range(len(release_day)) if release_day[a] <= day and a != app]
        rows.append((i, int(app), 1))
        for a in rng.choice(candidates, size=n_negatives, replace=False):
            rows.append((i, int(a), 0))
    return pd.DataFrame(rows, columns=["event", "app_id", "label"])


def ref_score_candidates(score_pairs, days, release_day):
    days, release_day = np.asarray(days), np.asarray(release_day)
    out = np.full((len(days), len(release_day)), -np.inf)
    for i, day in enumerate(days):
        apps = np.arange(len(release_day))
        scores = np.asarray(score_pairs(np.full(len(apps), i), apps), dtype=float)
        out[i] = np.where(release_day <= day, scores, -np.inf)
    return out


def ref_break_even(rates):
    c_old, c_new = rates.loc["multiclass", ["old apps", "new apps"]]
    m_old, m_new = rates.loc["match", ["old apps", "new apps"]]
    if m_old >= c_old:
        return 0.0
    return (c_old - m_old) / ((c_old - m_old) + (m_new - c_new))


# ---------------------------------------------------------------- plausible slips


def _pairs_from(positive, negatives):
    positive = np.asarray(positive)
    apps = np.column_stack([positive, negatives])
    k = apps.shape[1] - 1
    return pd.DataFrame({"event": np.repeat(np.arange(len(apps)), k + 1),
                         "app_id": apps.ravel(),
                         "label": np.tile([1] + [0] * k, len(apps))})


def pairs_may_draw_positive(positive, days, release, k, rng):
    release = np.asarray(release)
    keys = rng.random((len(positive), len(release)))
    keys[release[None, :] > np.asarray(days)[:, None]] = np.inf
    return _pairs_from(positive, np.argsort(keys, axis=1)[:, :k])


def pairs_from_the_future(positive, days, release, k, rng):
    keys = rng.random((len(positive), len(release)))
    keys[np.arange(len(positive)), positive] = np.inf
    return _pairs_from(positive, np.argsort(keys, axis=1)[:, :k])


def pairs_with_replacement(positive, days, release, k, rng):
    release = np.asarray(release)
    negatives = []
    for app, day in zip(positive, days, strict=True):
        candidates = [a for a in range(len(release)) if release[a] <= day and a != app]
        negatives.append(rng.choice(candidates, size=k, replace=True))
    return _pairs_from(positive, np.array(negatives))


def pairs_strictly_before(positive, days, release, k, rng):
    """Apps released on the event's day are left out (< instead of <=)."""
    release = np.asarray(release)
    negatives = []
    for app, day in zip(positive, days, strict=True):
        candidates = [a for a in range(len(release)) if release[a] < day and a != app]
        negatives.append(rng.choice(candidates, size=k, replace=False))
    return _pairs_from(positive, np.array(negatives))


def pairs_all_labels_zero(positive, days, release, k, rng):
    pairs = ref_make_pairs(positive, days, release, k, rng)
    return pairs.assign(label=0)


def pairs_one_short(positive, days, release, k, rng):
    return ref_make_pairs(positive, days, release, k - 1, rng) if k > 1 else \
        ref_make_pairs(positive, days, release, k, rng).iloc[:-1]


def pairs_by_popularity(positive, days, release, k, rng):
    """Negatives drawn in proportion to 1 / (app id + 1): valid, but not uniform."""
    release = np.asarray(release)
    weight = 1.0 / (np.arange(len(release)) + 1.0) ** 2
    negatives = []
    for app, day in zip(positive, days, strict=True):
        ok = (release <= day) & (np.arange(len(release)) != app)
        p = np.where(ok, weight, 0.0)
        negatives.append(rng.choice(len(release), size=k, replace=False, p=p / p.sum()))
    return _pairs_from(positive, np.array(negatives))


def pairs_as_arrays(positive, days, release, k, rng):
    return ref_make_pairs(positive, days, release, k, rng).to_numpy()


def pairs_shuffled(positive, days, release, k, rng):
    """Correct pairs in another row order: must pass."""
    pairs = ref_make_pairs(positive, days, release, k, rng)
    return pairs.sample(frac=1.0, random_state=3).reset_index(drop=True)


def scores_swapped(score_pairs, days, release):
    n, m = len(days), len(release)
    s = np.asarray(score_pairs(np.tile(np.arange(n), m), np.repeat(np.arange(m), n)), float)
    return np.where(np.asarray(release)[None, :] <= np.asarray(days)[:, None],
                    s.reshape(n, m), -np.inf)


def scores_unmasked(score_pairs, days, release):
    n, m = len(days), len(release)
    return np.asarray(score_pairs(np.repeat(np.arange(n), m), np.tile(np.arange(m), n)),
                      float).reshape(n, m)


def scores_strict(score_pairs, days, release):
    s = scores_unmasked(score_pairs, days, release)
    return np.where(np.asarray(release)[None, :] < np.asarray(days)[:, None], s, -np.inf)


def scores_zero_masked(score_pairs, days, release):
    s = scores_unmasked(score_pairs, days, release)
    return np.where(np.asarray(release)[None, :] <= np.asarray(days)[:, None], s, 0.0)


def scores_transposed(score_pairs, days, release):
    return ref_score_candidates(score_pairs, days, release).T


def scores_wrong_only_on_run_data(score_pairs, days, release):
    s = ref_score_candidates(score_pairs, days, release)
    return s if len(days) < 5 else s + np.where(np.isfinite(s), 1e-3, 0.0)


def not_implemented(*args):
    raise NotImplementedError("write it")


# ---------------------------------------------------------------- run data


@pytest.fixture
def events_run():
    """2,000 training events, 12 apps, two of them launched on day 6."""
    rng = np.random.default_rng(5)
    release = np.array([-40, -30, -20, -10, -5, -90, -60, -3, -15, -25, 6, 6])
    days = np.sort(rng.integers(0, 10, 2000))
    positive = np.array([rng.choice(np.flatnonzero(release <= d)) for d in days])
    return positive, days, release


@pytest.fixture
def scorer_run():
    """A scorer over 300 events on days 0-9 for 12 apps, two launched on day 6."""
    rng = np.random.default_rng(9)
    table = rng.normal(size=(300, 12))
    days = np.sort(rng.integers(0, 10, 300))
    release = np.array([-40, -30, -20, -10, -5, -90, -60, -3, -15, -25, 6, 6])

    def score_pairs(event_index, app_index):
        return table[np.asarray(event_index), np.asarray(app_index)]
    return score_pairs, days, release, table


@pytest.fixture
def rates_run():
    return pd.DataFrame({"old apps": [0.5437, 0.5121, 0.31, 0.125],
                         "new apps": [0.0, 0.3893, 0.2, 0.125],
                         "all events": [0.49, 0.50, 0.30, 0.125]},
                        index=["multiclass", "match", "popularity", "random"])


@pytest.fixture
def sweep_run():
    return pd.DataFrame({"validation": [0.4969, 0.4953, 0.4937, 0.4899, 0.4754]},
                        index=pd.Index([1, 2, 4, 8, 16], name="negatives per positive"))


def assert_no_leak(message, values):
    for v in values:
        for text in (f"{v:.4g}", f"{v:.3f}", repr(v), str(round(v, 3))):
            if len(text.rstrip("0").rstrip(".")) > 3:
                assert text not in message, f"message reveals a hidden value {text}: {message}"


# ---------------------------------------------------------------- make_pairs


def test_make_pairs_passes_the_reference(events_run, capsys):
    lab03.make_pairs(ref_make_pairs, *events_run, 4)
    assert "[ok] make_pairs" in capsys.readouterr().out


def test_make_pairs_accepts_any_row_order_and_pandas_input(events_run, capsys):
    positive, days, release = events_run
    lab03.make_pairs(pairs_shuffled, pd.Series(positive), pd.Series(days), release, 2)
    assert "[ok]" in capsys.readouterr().out


@pytest.mark.parametrize(("wrong", "words"), [
    (pairs_may_draw_positive, "the app the user opened"),
    (pairs_from_the_future, "not yet launched"),
    (pairs_with_replacement, "without replacement"),
    (pairs_strictly_before, "raised ValueError"),
    (pairs_all_labels_zero, "exactly one row with label 1"),
    (pairs_one_short, "rows per event"),
    (pairs_as_arrays, "pandas DataFrame"),
])
def test_make_pairs_catches_slips_on_the_worked_examples(events_run, wrong, words):
    with pytest.raises(AssertionError) as info:
        lab03.make_pairs(wrong, *events_run, 4)
    message = str(info.value)
    assert message.startswith("make_pairs: for "), message
    assert words in message


def test_make_pairs_catches_non_uniform_sampling_on_run_data(events_run):
    with pytest.raises(AssertionError, match="uniform sampling"):
        lab03.make_pairs(pairs_by_popularity, *events_run, 3)


def test_make_pairs_failure_on_run_data_does_not_leak(events_run):
    def right_on_small_inputs(positive, days, release, k, rng):
        pairs = ref_make_pairs(positive, days, release, k, rng)
        return pairs if len(positive) < 500 else pairs.iloc[: len(pairs) - 1]

    with pytest.raises(AssertionError, match="on this run's events") as info:
        lab03.make_pairs(right_on_small_inputs, *events_run, 3)
    positive, _, _ = events_run
    assert_no_leak(str(info.value), [len(positive) * 4.0 - 1])


def test_make_pairs_rejects_bad_input_with_a_clear_message(events_run):
    positive, days, release = events_run
    with pytest.raises(AssertionError, match="same length"):
        lab03.make_pairs(ref_make_pairs, positive, days[:-1], release, 2)
    with pytest.raises(AssertionError, match="at least n_negatives"):
        lab03.make_pairs(ref_make_pairs, positive, days, release, 11)


# ---------------------------------------------------------------- score_candidates


def test_score_candidates_passes_the_reference(scorer_run, capsys):
    score_pairs, days, release, _ = scorer_run
    lab03.score_candidates(ref_score_candidates, score_pairs, days, release)
    assert "[ok] score_candidates" in capsys.readouterr().out


@pytest.mark.parametrize(("wrong", "words"), [
    (scores_swapped, "wrong cells"),
    (scores_unmasked, "not yet on the market got a score"),
    (scores_strict, "release_day <= day"),
    (scores_zero_masked, "-inf, not 0"),
    (scores_transposed, "shape (2, 3)"),
    (lambda sp, d, r: ref_score_candidates(sp, d, r).tolist(), None),
])
def test_score_candidates_catches_slips(scorer_run, wrong, words):
    score_pairs, days, release, _ = scorer_run
    if words is None:  # a nested list of the right numbers is fine
        lab03.score_candidates(wrong, score_pairs, days, release)
        return
    with pytest.raises(AssertionError) as info:
        lab03.score_candidates(wrong, score_pairs, days, release)
    message = str(info.value)
    assert message.startswith("score_candidates: for "), message
    assert words in message


def test_score_candidates_compares_with_the_scorer_on_run_data(scorer_run):
    score_pairs, days, release, table = scorer_run
    with pytest.raises(AssertionError, match="on this run's events") as info:
        lab03.score_candidates(scores_wrong_only_on_run_data, score_pairs, days, release)
    assert_no_leak(str(info.value), table.ravel()[:50])


def test_score_candidates_stub_and_crash_messages(scorer_run):
    score_pairs, days, release, _ = scorer_run
    with pytest.raises(AssertionError, match="not implemented yet"):
        lab03.score_candidates(not_implemented, score_pairs, days, release)

    def crashes(sp, d, r):
        return np.zeros((len(d), len(r)))[len(d) + 1]

    with pytest.raises(AssertionError, match="raised IndexError"):
        lab03.score_candidates(crashes, score_pairs, days, release)


def test_score_candidates_rejects_a_bad_scorer(scorer_run):
    _, days, release, _ = scorer_run
    with pytest.raises(AssertionError, match="pair scorer"):
        lab03.score_candidates(ref_score_candidates, "not a function", days, release)


# ---------------------------------------------------------------- decisions


def test_negatives_per_positive_accepts_the_best_and_near_ties(sweep_run, capsys):
    for k in (1, 2, 4, 8):
        lab03.negatives_per_positive(k, sweep_run)
    assert capsys.readouterr().out.count("[ok]") == 4


@pytest.mark.parametrize(("value", "words"), [
    (16, "more than 0.01 below the best"),
    (3, "one of the numbers of negatives"),
    (1.0, "one of the numbers of negatives"),
    ("1", "one of the numbers of negatives"),
])
def test_negatives_per_positive_catches_slips(sweep_run, value, words):
    with pytest.raises(AssertionError, match=words) as info:
        lab03.negatives_per_positive(value, sweep_run)
    assert_no_leak(str(info.value), sweep_run["validation"].tolist())


def test_negatives_per_positive_needs_the_sweep():
    with pytest.raises(AssertionError, match="sweep table"):
        lab03.negatives_per_positive(1, [0.5, 0.4])


def test_break_even_share_accepts_the_reference(rates_run, capsys):
    right = ref_break_even(rates_run)
    lab03.break_even_share(right, "match", rates_run, 0.10)
    lab03.break_even_share(right + 0.004, "match", rates_run, right + 0.002)
    assert capsys.readouterr().out.count("[ok]") == 2


def test_break_even_share_is_zero_when_the_match_model_wins_everywhere(rates_run, capsys):
    rates = rates_run.copy()
    rates.loc["match", "old apps"] = 0.60
    lab03.break_even_share(0.0, "match", rates, 0.10)
    assert "[ok]" in capsys.readouterr().out


def _all_events_answer(rates):
    gap = rates.loc["multiclass", "all events"] - rates.loc["match", "all events"]
    return max(gap / (gap + rates.loc["match", "new apps"]), 0.0)


def _random_credit_answer(rates):
    gap = rates.loc["multiclass", "old apps"] - rates.loc["match", "old apps"]
    return gap / (gap + rates.loc["match", "new apps"] - rates.loc["random", "new apps"])


@pytest.mark.parametrize(("answer", "ship", "words"), [
    (_all_events_answer, "match", "break-even share is higher"),
    (_random_credit_answer, "match", "break-even share is lower"),
    (ref_break_even, "multiclass", "the other framing"),
    (lambda r: 1.5, "match", "between 0 and 1"),
    (lambda r: "seven percent", "match", "single number"),
    (ref_break_even, "both", "answer with one of"),
])
def test_break_even_share_catches_slips(rates_run, answer, ship, words):
    with pytest.raises(AssertionError, match=words) as info:
        lab03.break_even_share(answer(rates_run), ship, rates_run, 0.10)
    assert_no_leak(str(info.value), [ref_break_even(rates_run)])


def test_break_even_share_needs_the_rates_table():
    with pytest.raises(AssertionError, match="table of hit rates"):
        lab03.break_even_share(0.1, "match", {"old apps": 1}, 0.10)


# ---------------------------------------------------------------- recording


def test_checks_record_plain_json(tmp_path, monkeypatch, events_run, scorer_run, sweep_run,
                                  rates_run):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    lab03.make_pairs(ref_make_pairs, *events_run, 4)
    score_pairs, days, release, _ = scorer_run
    lab03.score_candidates(ref_score_candidates, score_pairs, days, release)
    lab03.negatives_per_positive(2, sweep_run)
    lab03.break_even_share(ref_break_even(rates_run), "match", rates_run, 0.10)

    pairs = json.loads((tmp_path / "make_pairs.json").read_text())["values"]
    assert pairs["n_rows"]["array"] == len(events_run[0]) * 5
    assert pairs["valid"]["array"] == 1.0
    scores = json.loads((tmp_path / "score_candidates.json").read_text())["values"]
    assert scores["agrees"]["array"] == 1.0
    on_market = (release[None, :] <= days[:, None]).sum(axis=1).mean()
    assert scores["candidates_per_event"]["array"] == pytest.approx(on_market, rel=0.05)
    negatives = json.loads((tmp_path / "negatives_per_positive.json").read_text())["values"]
    assert negatives["shortfall"]["between"]["array"] == [0.0, lab03.NEGATIVES_TOLERANCE]
    assert negatives["shortfall"]["decision"]["array"] == pytest.approx(0.4969 - 0.4953)
    even = json.loads((tmp_path / "break_even_share.json").read_text())["values"]
    assert even["error"]["decision"]["array"] == pytest.approx(0.0)
    assert even["ship_agrees"] == {"decision": "yes", "accepted": ["yes"]}


def test_a_slip_in_the_worked_examples_records_nothing(tmp_path, monkeypatch, events_run):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    with pytest.raises(AssertionError):
        lab03.make_pairs(pairs_from_the_future, *events_run, 4)
    assert not (tmp_path / "make_pairs.json").exists()


def test_a_wrong_decision_is_still_recorded_for_the_grader(tmp_path, monkeypatch, sweep_run):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    with pytest.raises(AssertionError):
        lab03.negatives_per_positive(16, sweep_run)
    saved = json.loads((tmp_path / "negatives_per_positive.json").read_text())["values"]
    assert saved["shortfall"]["decision"]["array"] > lab03.NEGATIVES_TOLERANCE
