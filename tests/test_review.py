"""Tests of labkit.review: completeness checks of a written design review."""

from __future__ import annotations

import ast
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from labkit.review import (  # noqa: E402
    PLACEHOLDER,
    Completeness,
    Field,
    completeness,
    field_problem,
    figure_problems,
    is_placeholder,
    skeleton,
    word_count,
)

FIELDS = (
    Field("goal", "What is the feed for, and for whom?"),
    Field("baselines", "How do the baselines do?", kind="measured"),
    Field("budget_ms", "How fast must ranking be?", kind="number", unit="ms"),
    Field("stages_ms", "How is the budget spent?", kind="numbers", unit="ms"),
)
GOOD = {
    "goal": "Readers who find stories worth their time and come back next week.",
    "baselines": "Random order gets 0.46 long reads per session, the heuristic 0.92.",
    "budget_ms": 150,
    "stages_ms": {"scoring": 40.0, "network": 40, "features": 30},
}


# ---------------------------------------------------------------- words and placeholders


@pytest.mark.parametrize("text, words", [
    ("", 0), ("...", 0), ("one", 1), ("Rank posts by long reads.", 5),
    ("don't re-rank the top-10 posts", 5), ("A/B test at 5% of traffic", 7),
    ("  spaces   everywhere  ", 2), ("snake_case counts twice", 4), (None, 0), (42, 0),
])
def test_word_count(text, words):
    assert word_count(text) == words


@pytest.mark.parametrize("text", [
    "...", PLACEHOLDER, ..., "", "   ", "TODO", "todo: ask the team", "TBD.", "N/A",
    "Your answer here", "<your answer>", "Lorem ipsum dolor sit amet", "xxx", "?",
])
def test_placeholders_are_recognised(text):
    assert is_placeholder(text)


@pytest.mark.parametrize("text", [
    "Rank by predicted long reads.", "Nothing to add: the team reuses the service.",
    "Today's posts only", 0, None, ["TODO"],
])
def test_real_answers_and_non_text_are_not_placeholders(text):
    assert not is_placeholder(text)


# ---------------------------------------------------------------- fields


@pytest.mark.parametrize("kwargs, words", [
    ({"name": "2nd", "question": "Why?"}, "identifier"),
    ({"name": "goal", "question": "  "}, "needs a question"),
    ({"name": "goal", "question": "Why?", "kind": "essay"}, "kind 'essay'"),
    ({"name": "goal", "question": "Why?", "min_words": 0}, "min_words"),
    ({"name": "goal", "question": "Why?", "min_words": True}, "min_words"),
    ({"name": "goal", "question": "Why?", "unit": 5}, "unit"),
])
def test_a_malformed_field_is_refused(kwargs, words):
    with pytest.raises(ValueError, match=words):
        Field(**kwargs)


@pytest.mark.parametrize("value, words", [
    ("...", "placeholder"), (..., "placeholder"), (None, "no answer"),
    (["a", "list"], "as text"), ("Engagement, mostly.", "too short"),
    ("What is the feed for, and for whom?", "repeats the question"),
    ("the feed is for whom", "too short"),
])
def test_text_answers_that_are_not_answers(value, words):
    assert words in field_problem(FIELDS[0], value)


def test_a_measured_answer_needs_a_number():
    why = field_problem(FIELDS[1], "Random order is far below the click heuristic here.")
    assert "measured number" in why
    assert field_problem(FIELDS[1], GOOD["baselines"]) == ""


@pytest.mark.parametrize("value, words", [
    ("150", "not text"), ("fast", "not text"), (..., "placeholder"), (None, "no answer"),
    (True, "single finite number"), (math.nan, "single finite number"),
    (math.inf, "single finite number"), ([150], "single finite number"), (0, "positive"),
    (-5, "positive"),
])
def test_number_answers(value, words):
    why = field_problem(FIELDS[2], value)
    assert words in why and "(ms)" in why


@pytest.mark.parametrize("value, words", [
    (..., "placeholder"), (None, "no answer"), ([40, 30], "a dict"), ({"scoring": 40}, "two"),
    ({"scoring": 40, "": 3}, "name every item"), ({"scoring": 40, "TODO": 3}, "name every"),
    ({"scoring": "40", "network": 3}, "'scoring'"), ({"scoring": -1, "network": 3}, "'scoring'"),
    ({"scoring": math.nan, "network": 3}, "'scoring'"),
])
def test_tables_of_numbers(value, words):
    assert words in field_problem(FIELDS[3], value)


def test_field_problem_wants_a_field():
    with pytest.raises(TypeError, match="Field"):
        field_problem("goal", "an answer of several words here")


# ---------------------------------------------------------------- completeness


def test_a_complete_review_passes_and_extra_keys_are_ignored():
    result = completeness({**GOOD, "notes": "..."}, FIELDS)
    assert result.complete and result.share == 1.0 and result.missing == []
    assert result.answered == dict.fromkeys(GOOD, True)
    assert result.report() == ""


def test_each_incomplete_field_is_reported_in_order():
    answers = {**GOOD, "goal": "TODO", "budget_ms": "150 ms"}
    del answers["stages_ms"]
    result = completeness(answers, FIELDS)
    assert not result.complete
    assert result.missing == ["goal", "budget_ms", "stages_ms"]
    assert result.share == pytest.approx(0.25)
    lines = result.report().splitlines()
    assert [line.split(":")[0] for line in lines] == result.missing
    assert "missing: add the key 'stages_ms'" in lines[2]


def test_one_answer_pasted_under_two_questions_is_flagged_once():
    fields = (Field("data", "How did you collect the data?"),
              Field("models", "Which models did you try?"),
              Field("evaluation", "How did you evaluate them?"))
    text = "We logged every tap on the feed for a month."
    result = completeness({"data": text, "models": text.upper() + "!", "evaluation": text},
                          fields)
    assert result.missing == ["models", "evaluation"]
    assert "same answer as 'data'" in result.problems["evaluation"]


def test_the_blank_template_answers_nothing():
    namespace: dict = {}
    exec(skeleton("SETUP", FIELDS), namespace)  # noqa: S102 - our own template
    result = completeness(namespace["SETUP"], FIELDS)
    assert result.share == 0.0
    assert all("placeholder" in why for why in result.problems.values())


def test_a_review_without_fields_is_complete():
    assert Completeness({}).share == 1.0 and Completeness({}).complete


@pytest.mark.parametrize("answers", [["goal"], "goal: x", None, 3])
def test_answers_must_be_a_mapping(answers):
    with pytest.raises(TypeError, match="answers must be a dict"):
        completeness(answers, FIELDS)


@pytest.mark.parametrize("fields, error, words", [
    ("goal", TypeError, "sequence"), ([{"name": "goal"}], TypeError, "Field objects"),
    ((FIELDS[0], FIELDS[0]), ValueError, "share a name"), (None, TypeError, "sequence"),
])
def test_fields_are_validated(fields, error, words):
    with pytest.raises(error, match=words):
        completeness({}, fields)


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=80) | st.just(...),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(answers=st.dictionaries(st.sampled_from(["goal", "baselines", "budget_ms", "stages_ms",
                                                "other"]), _JSONISH, max_size=5))
def test_any_answers_get_a_verdict_for_every_field_never_a_crash(answers):
    result = completeness(answers, FIELDS)
    assert list(result.problems) == [f.name for f in FIELDS]
    assert all(isinstance(why, str) for why in result.problems.values())
    assert 0.0 <= result.share <= 1.0
    assert result.complete == (result.share == 1.0)


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=200))
def test_words_and_placeholders_accept_any_text(text):
    assert word_count(text) >= 0
    assert isinstance(is_placeholder(text), bool)
    assert isinstance(field_problem(FIELDS[0], text), str)


# ---------------------------------------------------------------- the template


def test_the_template_is_python_with_every_question_above_its_key():
    source = skeleton("SERVING", FIELDS)
    tree = ast.parse(source)
    assign = tree.body[0]
    assert isinstance(assign, ast.Assign) and assign.targets[0].id == "SERVING"
    keys = [k.value for k in assign.value.keys]
    assert keys == [f.name for f in FIELDS]
    lines = source.splitlines()
    for field in FIELDS:
        at = next(i for i, line in enumerate(lines) if line.strip().startswith(f'"{field.name}"'))
        assert lines[at - 1].strip().startswith("# " + field.question)
    assert "(a number, in ms)" in source and "(quote the measured numbers)" in source


@pytest.mark.parametrize("name", ["2fast", "a b", "", None])
def test_the_template_needs_a_variable_name(name):
    with pytest.raises(ValueError, match="identifier"):
        skeleton(name, FIELDS)


# ---------------------------------------------------------------- figures


SERIES = ["random order", "picked by editors"]


def _figure(*, labels=True, title=True, legend=True, series=SERIES, bars=False):
    fig, ax = plt.subplots()
    for i, name in enumerate(series):
        if bars:
            ax.bar([i], [0.5 + i], label=name)
        else:
            ax.plot([1, 2, 3], [0.1 * i, 0.2 * i, 0.3 * i], label=name)
    if labels:
        ax.set(xlabel="posts scrolled", ylabel="long reads")
    if title:
        ax.set_title("Baselines")
    if legend:
        ax.legend()
    return fig


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_a_complete_figure_has_no_problems():
    assert figure_problems(_figure(), SERIES) == []
    assert figure_problems(_figure(bars=True), SERIES) == []
    assert figure_problems(_figure(legend=False)) == []        # no series asked for


def test_a_suptitle_and_a_figure_legend_count():
    fig = _figure(title=False, legend=False)
    fig.suptitle("Baselines")
    fig.legend()
    assert figure_problems(fig, SERIES) == []


@pytest.mark.parametrize("kwargs, problem", [
    ({"labels": False}, "label the x axis"),
    ({"title": False}, "give the figure a title"),
    ({"legend": False}, "add a legend that names each series"),
    ({"series": SERIES[:1]}, "the legend does not name 'picked by editors'"),
])
def test_each_missing_piece_is_named(kwargs, problem):
    assert problem in figure_problems(_figure(**kwargs), SERIES)


def test_a_figure_without_data_or_without_axes():
    fig, _ = plt.subplots()
    assert figure_problems(fig, SERIES) == ["the figure shows no data: draw on its axes"]
    assert "no data" in figure_problems(plt.figure(), SERIES)[0]


@pytest.mark.parametrize("thing", [None, "figure", 3, plt])
def test_something_else_than_a_figure_is_named(thing):
    assert figure_problems(thing, SERIES)[0].startswith("expected a matplotlib figure")


@pytest.mark.parametrize("series", ["random order", [1, 2], None])
def test_series_must_be_names(series):
    with pytest.raises(TypeError, match="series"):
        figure_problems(_figure(), series)
