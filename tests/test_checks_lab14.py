"""Tests of labkit.checks.lab14: complete reviews pass, incomplete ones are named, and the
two decisions are checked against the data.

The answers below are written for these tests, independently of the solution notebook.
"""

from __future__ import annotations

import json
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy.stats import norm  # noqa: E402

from labkit.checks import RESULTS_ENV, lab14  # noqa: E402
from labkit.review import Field, skeleton  # noqa: E402

SECTIONS = {"setup": lab14.SETUP_FIELDS, "data": lab14.DATA_FIELDS,
            "modeling": lab14.MODELING_FIELDS, "serving": lab14.SERVING_FIELDS,
            "past_project": lab14.PAST_FIELDS}


def _answer(field: Field, index: int):
    """A distinct, complete answer of the field's kind."""
    if field.kind == "number":
        return 150 if field.name == "latency_budget_ms" else 2_000_000
    if field.kind == "numbers":
        return {"fetch candidates": 20, "score 500 posts": 40.0, "network": 40}
    return (f"Answer {index} for {field.name}: a concrete sentence about the news feed, "
            f"with {index + 3} readers in mind.")


def complete(section: str) -> dict:
    return {f.name: _answer(f, i) for i, f in enumerate(SECTIONS[section])}


def check(section: str):
    return getattr(lab14, section)


def _records(tmp_path) -> dict:
    return {p.stem: json.loads(p.read_text()) for p in tmp_path.glob("*.json")}


# ---------------------------------------------------------------- the questions


def test_every_section_asks_distinct_questions_under_distinct_keys():
    for fields in SECTIONS.values():
        assert len({f.name for f in fields}) == len(fields)
        assert len({f.question for f in fields}) == len(fields)
        assert all(f.question.rstrip().endswith(("?", ".")) for f in fields)


def test_the_phases_ask_for_the_numbers_a_review_needs():
    kinds = {(section, f.name): f.kind for section, fields in SECTIONS.items() for f in fields}
    assert kinds[("data", "sessions_per_day")] == "number"
    assert kinds[("modeling", "baselines")] == "measured"
    assert kinds[("serving", "experiment")] == "measured"
    assert kinds[("serving", "latency_budget_ms")] == "number"
    assert kinds[("serving", "latency_stages_ms")] == "numbers"
    assert [f.name for f in lab14.PAST_FIELDS] == ["data", "models", "evaluation", "differently"]


# ---------------------------------------------------------------- written sections


@pytest.mark.parametrize("section", list(SECTIONS))
def test_a_complete_section_passes_and_says_a_person_grades_it(section, capsys):
    check(section)(complete(section))
    out = capsys.readouterr().out
    assert out.startswith(f"[ok] {section}: complete") and "rubric" in out


@pytest.mark.parametrize("section", list(SECTIONS))
def test_the_blank_template_fails_on_every_question(section):
    namespace: dict = {}
    exec(skeleton("ANSWERS", SECTIONS[section]), namespace)  # noqa: S102 - our template
    n = len(SECTIONS[section])
    with pytest.raises(AssertionError, match=f"{section}: {n} of {n} question") as err:
        check(section)(namespace["ANSWERS"])
    assert str(err.value).count("placeholder") == n


@pytest.mark.parametrize("section, key, value, words", [
    ("setup", "guardrails", "...", "guardrails: the template's placeholder"),
    ("setup", "goal", "Engagement.", "goal: 1 word(s) is too short"),
    ("setup", "evaluation", "How will you judge the ranker offline, on logged sessions?",
     "evaluation: the answer repeats the question"),
    ("data", "sessions_per_day", "about two million", "sessions_per_day: give a number"),
    ("data", "sessions_per_day", -3, "give a positive number"),
    ("modeling", "baselines", "Random order, the click heuristic and the editors.",
     "baselines: quote the measured number"),
    ("serving", "latency_budget_ms", "as fast as possible", "latency_budget_ms: give a number"),
    ("serving", "latency_stages_ms", {"everything": 140}, "at least two items"),
    ("past_project", "differently", "Nothing.", "differently: 1 word(s)"),
])
def test_an_incomplete_answer_is_named_with_what_to_do(section, key, value, words):
    answers = {**complete(section), key: value}
    with pytest.raises(AssertionError, match=f"^{section}: 1 of") as err:
        check(section)(answers)
    assert words in str(err.value)


@pytest.mark.parametrize("section", list(SECTIONS))
def test_a_missing_question_and_a_pasted_answer_are_named(section):
    answers = complete(section)
    last = SECTIONS[section][-1].name
    del answers[last]
    text_fields = [f.name for f in SECTIONS[section] if f.kind == "text"]
    answers[text_fields[1]] = answers[text_fields[0]]
    with pytest.raises(AssertionError) as err:
        check(section)(answers)
    message = str(err.value)
    assert f"{last}: missing: add the key {last!r}" in message
    assert f"{text_fields[1]}: the same answer as {text_fields[0]!r}" in message
    assert f"{section}: 2 of {len(SECTIONS[section])} question(s)" in message


@pytest.mark.parametrize("section", list(SECTIONS))
@pytest.mark.parametrize("answers", [["a list"], "a string", None])
def test_a_section_that_is_not_a_dict_gets_a_plain_message(section, answers):
    with pytest.raises(AssertionError, match="should be a dict from each question's key"):
        check(section)(answers)


@pytest.mark.parametrize("stages, fits", [
    ({"a": 100, "b": 50}, True), ({"a": 100, "b": 50.5}, False), ({"a": 149.5, "b": 0}, True),
])
def test_the_latency_stages_must_fit_in_the_budget(stages, fits):
    answers = {**complete("serving"), "latency_budget_ms": 150, "latency_stages_ms": stages}
    if fits:
        lab14.serving(answers)
    else:
        with pytest.raises(AssertionError, match="add up to more than the budget"):
            lab14.serving(answers)


def test_written_sections_record_what_they_answered(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    lab14.setup(complete("setup"))
    with pytest.raises(AssertionError):
        lab14.data({**complete("data"), "privacy": "TBD"})
    over = {**complete("serving"), "latency_stages_ms": {"a": 100, "b": 100}}
    with pytest.raises(AssertionError):
        lab14.serving(over)
    records = _records(tmp_path)
    assert records["setup"]["values"]["answered"] == dict.fromkeys(
        (f.name for f in lab14.SETUP_FIELDS), True)
    answered = records["data"]["values"]["answered"]
    assert answered["privacy"] is False and sum(answered.values()) == len(answered) - 1
    assert records["serving"]["values"]["fits_budget"] is False
    assert all(records["serving"]["values"]["answered"].values())


# ---------------------------------------------------------------- the baselines figure


BASELINES = pd.DataFrame({"random order": [0.1, 0.2, 0.25],
                          "most clicked yesterday": [0.3, 0.45, 0.55],
                          "picked by editors": [0.4, 0.6, 0.7]},
                         index=pd.RangeIndex(1, 4, name="posts scrolled"))


def _baseline_fig(*, drop=(), labels=True, legend=True):
    fig, ax = plt.subplots()
    for name in BASELINES.columns:
        if name not in drop:
            ax.plot(BASELINES.index, BASELINES[name], label=name)
    ax.set_title("Baselines")
    if labels:
        ax.set(xlabel="posts scrolled", ylabel="long reads per session")
    if legend:
        ax.legend()
    return fig


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_a_complete_baselines_figure_passes(capsys):
    lab14.baseline_figure(_baseline_fig(), BASELINES)
    assert capsys.readouterr().out.startswith("[ok] baseline_figure: the figure is complete")


@pytest.mark.parametrize("kwargs, words", [
    ({"labels": False}, "label the x axis; label the y axis"),
    ({"legend": False}, "add a legend"),
    ({"drop": ("random order",)}, "the legend does not name 'random order'"),
])
def test_an_incomplete_baselines_figure_is_named(kwargs, words, tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    with pytest.raises(AssertionError, match="the figure is not complete yet") as err:
        lab14.baseline_figure(_baseline_fig(**kwargs), BASELINES)
    assert words in str(err.value)
    assert _records(tmp_path)["baseline_figure"]["values"]["complete"] is False


@pytest.mark.parametrize("baselines", [None, pd.DataFrame(), [1, 2]])
def test_the_figure_check_needs_the_baselines_table(baselines):
    with pytest.raises(AssertionError, match="baselines table"):
        lab14.baseline_figure(_baseline_fig(), baselines)


# ---------------------------------------------------------------- the primary metric


CANDIDATES = ["clicks", "dwell", "long reads"]
GOAL = "returned"


def _variants(seed=0):
    """Eleven variants: clicks peak at w = 0.8, dwell at 0.6, long reads at 0.4 and the goal
    at 0.3, with a little noise (never enough to move a peak)."""
    w = np.round(np.linspace(0, 1, 11), 1)
    noise = np.random.default_rng(seed).normal(0, 1e-4, (4, len(w)))
    return pd.DataFrame({"clicks": 1 - (w - 0.8) ** 2 + noise[0],
                         "dwell": 1 - (w - 0.6) ** 2 + noise[1],
                         "long reads": 1 - (w - 0.4) ** 2 + noise[2],
                         GOAL: 0.5 - (w - 0.3) ** 2 + noise[3]}, index=w)


def ref_primary_metric(table):
    kept = {m: table.loc[table[m].idxmax(), GOAL] for m in CANDIDATES}
    return max(kept, key=kept.get)


@pytest.mark.parametrize("seed", range(3))
def test_the_metric_that_ships_the_best_variant_passes(seed, capsys):
    table = _variants(seed)
    answer = ref_primary_metric(table)
    assert answer == "long reads"
    lab14.primary_metric(answer, table, candidates=CANDIDATES, north_star=GOAL)
    lab14.primary_metric("  Long Reads ", table, candidates=CANDIDATES, north_star=GOAL)
    assert capsys.readouterr().out.count("[ok] primary_metric") == 2


@pytest.mark.parametrize("answer", ["clicks", "dwell"])
def test_a_metric_that_ships_a_worse_variant_fails(answer):
    with pytest.raises(AssertionError, match=f"ranks first on {answer!r} keeps fewer readers"):
        lab14.primary_metric(answer, _variants(), candidates=CANDIDATES, north_star=GOAL)


def test_metrics_within_the_tolerance_are_all_accepted(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    table = _variants()
    lab14.primary_metric("dwell", table, candidates=CANDIDATES, north_star=GOAL, tolerance=0.1)
    recorded = _records(tmp_path)["primary_metric"]["values"]["metric"]
    assert recorded == {"decision": "dwell", "accepted": ["dwell", "long reads"]}


@pytest.mark.parametrize("answer, words", [
    ("returned", "is the long-term goal itself"), ("revenue", "answer with one of"),
    (3, "answer with one of"), (None, "answer with one of"),
])
def test_an_answer_outside_the_candidates_is_named(answer, words):
    with pytest.raises(AssertionError, match=words):
        lab14.primary_metric(answer, _variants(), candidates=CANDIDATES, north_star=GOAL)


@pytest.mark.parametrize("table", [None, pd.DataFrame({"clicks": [1.0]}),
                                   _variants().drop(columns=GOAL)])
def test_the_metric_check_needs_the_variants_table(table):
    with pytest.raises(AssertionError, match="table of variants"):
        lab14.primary_metric("clicks", table, candidates=CANDIDATES, north_star=GOAL)


# ---------------------------------------------------------------- sessions per arm


def ref_sessions(p, lift, alpha=0.05, power=0.8):
    """Lab 02's normal-approximation size per arm of a two-sided two-proportion test
    (unpooled variances), for a relative lift."""
    q = p * (1 + lift)
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    return z**2 * (p * (1 - p) + q * (1 - q)) / (q - p) ** 2


def test_the_planning_formula_agrees_with_statsmodels():
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    p, lift = 0.633, 0.02
    h = proportion_effectsize(p * (1 + lift), p)
    cohen = NormalIndPower().solve_power(effect_size=h, alpha=0.05, power=0.8, ratio=1.0)
    assert ref_sessions(p, lift) == pytest.approx(cohen, rel=0.02)


@pytest.mark.parametrize("p, lift", [(0.633, 0.02), (0.2, 0.1), (0.9, 0.05)])
def test_the_planned_size_passes(p, lift, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    n = math.ceil(ref_sessions(p, lift))
    lab14.sessions_per_arm(n, p, relative_lift=lift)
    lab14.sessions_per_arm(int(n * 1.05), p, relative_lift=lift)
    assert capsys.readouterr().out.count("[ok] sessions_per_arm") == 2
    recorded = _records(tmp_path)["sessions_per_arm"]["values"]["share_of_plan"]
    assert recorded["between"]["array"] == [0.92, 1.08]
    assert recorded["decision"]["array"] == pytest.approx(int(n * 1.05) / ref_sessions(p, lift))


def test_the_relative_lift_read_as_points_is_named():
    p, lift = 0.633, 0.02
    n = math.ceil(ref_sessions(p, (p + lift) / p - 1))
    with pytest.raises(AssertionError, match="Is the lift relative"):
        lab14.sessions_per_arm(n, p, relative_lift=lift)


def test_a_one_sided_test_is_named():
    p, q = 0.633, 0.633 * 1.02
    z = norm.ppf(0.95) + norm.ppf(0.8)
    n = math.ceil(z**2 * (p * (1 - p) + q * (1 - q)) / (q - p) ** 2)
    with pytest.raises(AssertionError, match="two-sided"):
        lab14.sessions_per_arm(n, p, relative_lift=0.02)


def test_both_arms_together_are_named():
    n = 2 * math.ceil(ref_sessions(0.633, 0.02))
    with pytest.raises(AssertionError, match="both arms together"):
        lab14.sessions_per_arm(n, 0.633, relative_lift=0.02)


@pytest.mark.parametrize("factor, words", [(0.8, "too few"), (1.3, "too many")])
def test_other_sizes_say_which_way_they_are_off(factor, words):
    n = int(factor * ref_sessions(0.2, 0.1))
    with pytest.raises(AssertionError, match=words):
        lab14.sessions_per_arm(n, 0.2, relative_lift=0.1)


@pytest.mark.parametrize("value, words", [
    (1000.5, "whole, positive"), (-5, "whole, positive"), ("many", "single number"),
    ([1000], "single number"),
])
def test_a_size_that_is_not_a_count_is_named(value, words):
    with pytest.raises(AssertionError, match=words):
        lab14.sessions_per_arm(value, 0.633, relative_lift=0.02)


@pytest.mark.parametrize("p, lift", [(0.0, 0.02), (1.0, 0.02), (0.5, 0.0), (0.99, 0.05)])
def test_bad_planning_inputs_get_a_plain_message(p, lift):
    with pytest.raises(AssertionError, match="current rate"):
        lab14.sessions_per_arm(1000, p, relative_lift=lift)
