"""Public self-checks of Lab 14, *A design review*.

Most tasks of this lab are written answers (kind ``review``): one section of a design
review per phase, a Python dict from each question's key to the learner's answer, and
one required figure. Their checks verify **completeness only**: every question answered
in a few words of one's own (not the template's placeholder, not a copy of the question
or of another answer), numbers where a number is asked, the latency plan's stages
within its budget, and the figure labelled and naming every baseline. Whether the
answers are good is for a person to judge, with the rubric of the book's page
*Preparing for a design review*; the grader awards a complete section its points and
says so.

The two decision tasks are checked for consistency with the run's data: the primary
metric against the long-term goal it stands in for, and the size of the online test
against the planning formula of Lab 02.

The questions are data (:data:`SETUP_FIELDS`, ...); the lab prints each section's
template from them with :func:`labkit.review.skeleton`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..review import Field, completeness, figure_problems
from ._core import decision as _decision
from ._core import expect, expect_number, passed, record

__all__ = ["DATA_FIELDS", "MODELING_FIELDS", "PAST_FIELDS", "SERVING_FIELDS", "SETUP_FIELDS",
           "baseline_figure", "data", "modeling", "past_project", "primary_metric",
           "serving", "sessions_per_arm", "setup"]

#: Phase 1, project setup.
SETUP_FIELDS = (
    Field("goal", "What is the feed for? Name the goal it serves first (engagement, revenue "
                  "from sponsored posts, fewer false stories, ...) and for whom."),
    Field("user_experience", "Walk through a session: when is the feed ranked, how many "
                             "posts does a reader see, and what can they do with a post?"),
    Field("performance", "How good and how fast must the ranking be? Which mistake costs "
                         "more: a good post buried or a bad post promoted?"),
    Field("guardrails", "What must not get worse while the goal improves (the guardrail "
                        "metrics), and how much worse would stop a launch?"),
    Field("evaluation", "How will you judge the ranker offline, on logged sessions, and "
                        "online, from readers' reactions? What does the model train on, and "
                        "why not on the product metric itself?"),
    Field("personalization", "One ranker for everyone, one per group, one per reader, or a "
                             "shared model fine-tuned per reader? Why?"),
    Field("constraints", "How much time until launch, how much compute, which skills in "
                         "the team, which systems can be reused?"),
)
#: Phase 2, data pipeline.
DATA_FIELDS = (
    Field("framing", "What goes in and what comes out? Why score (reader, context, post) "
                     "triples rather than predict a class over all posts?"),
    Field("labels", "Where do the labels come from (clicks, long reads, hides, editors' "
                    "ratings), what does each cost, and how is each biased?"),
    Field("sessions_per_day", "How many sessions a day does the log gain?", kind="number",
          unit="sessions"),
    Field("storage", "Where does the log live, how big is one example, does a training set "
                     "fit in memory, and how often does new data arrive?"),
    Field("preprocessing", "Which features, what happens to missing values and to "
                           "imbalance, and how will you tell whether training and serving "
                           "data differ?"),
    Field("privacy", "What could readers worry about, what is pseudonymized, aggregated or "
                     "kept on the phone, and who may see raw logs?"),
    Field("biases", "Which biases could the data hold or the feed reinforce (position, "
                    "popularity, under-represented groups), and how will you measure them?"),
)
#: Phase 3, modeling.
MODELING_FIELDS = (
    Field("task", "Which kind of problem is it (classification, regression, ranking, "
                  "generation; supervised or not), and why?"),
    Field("baselines", "How do the random, human and simple-heuristic baselines do on the "
                       "review's metric?", kind="measured"),
    Field("first_model", "Which simplest model would you ship first, and what would "
                         "justify a more complex one?"),
    Field("debugging", "How will you know that training works (a fixed seed, overfitting "
                       "one batch, gradient health, ...)?"),
    Field("tuning", "Which hyperparameters matter, how will you search them, and on which "
                    "data will you compare the settings?"),
    Field("scaling", "Does training fit on one machine? If not: streaming, data-parallel "
                     "training, lower precision?"),
)
#: Phase 4, serving.
SERVING_FIELDS = (
    Field("experiment", "Which online test before launch: the primary metric, the "
                        "guardrails, the sessions per arm and the number of days?",
          kind="measured"),
    Field("latency_budget_ms", "The latency budget for ranking one feed, at the 99th "
                               "percentile.", kind="number", unit="ms"),
    Field("latency_stages_ms", "How the budget is spent, stage by stage (fetch candidates, "
                               "features, scoring, re-ranking, network).", kind="numbers",
          unit="ms"),
    Field("where", "Inference on the server or on the phone, and why (latency, battery, "
                   "privacy, feedback)?"),
    Field("updates", "What feedback do you log, how often do you retrain, and what happens "
                     "to new posts and new readers?"),
    Field("confidence", "What does the feed do when the model is unsure, down or too slow "
                        "(the fallbacks)?"),
    Field("interpretability", "Can a reader, a moderator or an engineer find out why a post "
                              "was shown?"),
    Field("ablation", "Which components would an ablation study remove, and which would you "
                      "drop if removing it costs nothing?"),
    Field("misuse", "Who could game or misuse the ranker, which biases could it spread, and "
                    "what limits the damage?"),
)
#: The closing note on preparing: a project of your own, looked back on.
PAST_FIELDS = (
    Field("data", "How did you collect the data, and how did you process it?"),
    Field("models", "How did you decide which models to try? Which did you try, which did "
                    "better, and why? Any surprise?"),
    Field("evaluation", "How did you evaluate the models?"),
    Field("differently", "If you did the project again, what would you do differently?"),
)

_COMPLETE = ("complete: every question is answered. The content is for a person to grade, "
             "with the rubric of the book's page 'Preparing for a design review'.")


def _review(task: str, answers: Any, fields: Sequence[Field], name: str,
            **extra: Any) -> dict[str, bool]:
    """Record and check the completeness of one written section; return what it answered."""
    expect(isinstance(answers, Mapping), task,
           f"{name} should be a dict from each question's key to your answer (copy the "
           f"template printed above it), got {type(answers).__name__}.")
    result = completeness(answers, fields)
    record(task, answered=result.answered, **extra)
    expect(result.complete, task,
           f"{len(result.missing)} of {len(fields)} question(s) still need an answer:\n  "
           + result.report().replace("\n", "\n  "))
    return result.answered


def setup(answers: Any) -> None:
    """Check that the project-setup section ``SETUP`` answers every question.

    Parameters
    ----------
    answers : dict
        The learner's ``SETUP``: each key of :data:`SETUP_FIELDS` -> a few sentences.

    Raises
    ------
    AssertionError
        Naming each question that still needs an answer, and why.

    Examples
    --------
    >>> setup({"goal": "..."})
    Traceback (most recent call last):
    ...
    AssertionError: setup: 7 of 7 question(s) still need an answer:
      goal: the template's placeholder is still there; write your answer.
      user_experience: missing: add the key 'user_experience' with your answer.
      performance: missing: add the key 'performance' with your answer.
      guardrails: missing: add the key 'guardrails' with your answer.
      evaluation: missing: add the key 'evaluation' with your answer.
      personalization: missing: add the key 'personalization' with your answer.
      constraints: missing: add the key 'constraints' with your answer.
    """
    _review("setup", answers, SETUP_FIELDS, "SETUP")
    passed("setup", _COMPLETE)


def data(answers: Any) -> None:
    """Check that the data-pipeline section ``DATA`` answers every question.

    Parameters
    ----------
    answers : dict
        The learner's ``DATA``: each key of :data:`DATA_FIELDS` -> an answer
        (``sessions_per_day`` is a number).

    Raises
    ------
    AssertionError
        Naming each question that still needs an answer, and why.
    """
    _review("data", answers, DATA_FIELDS, "DATA")
    passed("data", _COMPLETE)


def modeling(answers: Any) -> None:
    """Check that the modeling section ``MODELING`` answers every question.

    The ``baselines`` answer must quote the measured numbers.

    Parameters
    ----------
    answers : dict
        The learner's ``MODELING``: each key of :data:`MODELING_FIELDS` -> an answer.

    Raises
    ------
    AssertionError
        Naming each question that still needs an answer, and why.
    """
    _review("modeling", answers, MODELING_FIELDS, "MODELING")
    passed("modeling", _COMPLETE)


def serving(answers: Any) -> None:
    """Check that the serving section ``SERVING`` answers every question.

    Besides completeness, the latency plan must add up: the stages of
    ``latency_stages_ms`` together fit in ``latency_budget_ms``.

    Parameters
    ----------
    answers : dict
        The learner's ``SERVING``: each key of :data:`SERVING_FIELDS` -> an answer.

    Raises
    ------
    AssertionError
        Naming each question that still needs an answer, or saying that the stages
        exceed the budget.

    Examples
    --------
    >>> plan = {"latency_budget_ms": 100, "latency_stages_ms": {"scoring": 80, "network": 40}}
    >>> _fits(plan)
    False
    """
    task = "serving"
    answered = _review(task, answers, SERVING_FIELDS, "SERVING", fits_budget=_fits(answers))
    expect(all(answered.values()) and _fits(answers), task,
           "the latency stages add up to more than the budget: trim a stage, or raise the "
           "budget and say in 'performance' why the readers can wait.")
    passed(task, _COMPLETE)


def _fits(answers: Any) -> bool:
    """Whether the latency stages fit in the budget (False when either is unusable)."""
    if not isinstance(answers, Mapping):
        return False
    budget, stages = answers.get("latency_budget_ms"), answers.get("latency_stages_ms")
    try:
        total = math.fsum(float(v) for v in stages.values())  # type: ignore[union-attr]
        return total <= float(budget)  # type: ignore[arg-type]
    except (AttributeError, TypeError, ValueError):
        return False


def past_project(answers: Any) -> None:
    """Check that ``PAST``, the look back at a project of your own, answers every question.

    Parameters
    ----------
    answers : dict
        The learner's ``PAST``: each key of :data:`PAST_FIELDS` -> a few sentences.

    Raises
    ------
    AssertionError
        Naming each question that still needs an answer, and why.
    """
    _review("past_project", answers, PAST_FIELDS, "PAST")
    passed("past_project", _COMPLETE)


def baseline_figure(fig: Any, baselines: Any) -> None:
    """Check the review's required figure: the baselines' curves, labelled and named.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The learner's ``BASELINE_FIG``.
    baselines : pandas.DataFrame
        The curves it must show: one column per baseline (its name goes in the legend).

    Raises
    ------
    AssertionError
        Listing what the figure still lacks.

    Examples
    --------
    >>> baseline_figure(None, __import__("pandas").DataFrame({"random order": [0.1, 0.2]}))
    Traceback (most recent call last):
    ...
    AssertionError: baseline_figure: the figure is not complete yet: expected a matplotlib \
figure (the fig of plt.subplots()), got NoneType.
    """
    task = "baseline_figure"
    names = [str(c) for c in getattr(baselines, "columns", [])]
    expect(len(names) > 0, task, "give the check the baselines table (one column per "
                                 "baseline).")
    problems = figure_problems(fig, names)
    record(task, complete=not problems)
    expect(not problems, task, "the figure is not complete yet: " + "; ".join(problems) + ".")
    passed(task, "the figure is complete (labelled axes, a title, every baseline named). "
                 "Whether it makes its point is for a person to judge, with the rubric.")


def _crowned(task: str, table: Any, candidates: Sequence[str], north_star: str) -> dict[str, float]:
    """Each candidate metric -> the long-term goal of the variant that metric ranks first."""
    columns = list(getattr(table, "columns", []))
    expect(all(c in columns for c in (*candidates, north_star)) and len(table) > 1, task,
           "give the check the table of variants (one row each) with a column per "
           "candidate metric and one for the long-term goal.")
    return {metric: float(table.loc[table[metric].idxmax(), north_star])
            for metric in candidates}


def primary_metric(value: Any, table: Any, *, candidates: Sequence[str], north_star: str,
                   tolerance: float = 0.005) -> None:
    """Check the decision ``PRIMARY_METRIC`` against the long-term goal.

    A primary metric stands in for a goal that is too slow to measure in an online test.
    Shipping the variant that ranks first on a candidate metric keeps some share of
    readers (the ``north_star`` of that variant); the accepted answers are the
    candidates whose first-ranked variant keeps within ``tolerance`` of the best any
    candidate achieves.

    Parameters
    ----------
    value : str
        The learner's ``PRIMARY_METRIC``, one of ``candidates``.
    table : pandas.DataFrame
        One row per ranker variant; a column per candidate metric (higher is better)
        and the ``north_star`` column.
    candidates : sequence of str
        The metrics to choose from.
    north_star : str
        The long-term goal's column.
    tolerance : float
        How much less of the goal an accepted metric's variant may keep.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"clicks": [0.1, 0.2, 0.3], "long reads": [0.3, 0.5, 0.4],
    ...                       "returned": [0.40, 0.50, 0.45]})
    >>> primary_metric("long reads", table, candidates=["clicks", "long reads"],
    ...                north_star="returned")
    [ok] primary_metric: all checks passed
    >>> primary_metric("clicks", table, candidates=["clicks", "long reads"],
    ...                north_star="returned")
    Traceback (most recent call last):
    ...
    AssertionError: primary_metric: the variant that ranks first on 'clicks' keeps fewer \
readers than the variant another candidate ranks first: a primary metric should point to \
the variant the long-term goal prefers.
    """
    task = "primary_metric"
    choices = [str(c) for c in candidates]
    if isinstance(value, str) and value.strip().lower() == str(north_star).lower():
        expect(False, task, f"{north_star!r} is the long-term goal itself, which takes weeks "
                            "to measure; choose the short-term metric that stands in for it.")
    expect(isinstance(value, str) and value.strip().lower() in [c.lower() for c in choices],
           task, f"answer with one of {', '.join(map(repr, choices))} (a string), got "
                 f"{value!r}.")
    answer = next(c for c in choices if c.lower() == value.strip().lower())
    kept = _crowned(task, table, choices, north_star)
    best = max(kept.values())
    accepted = [metric for metric, goal in kept.items() if goal >= best - tolerance]
    record(task, metric=_decision(answer, accepted=accepted))
    expect(answer in accepted, task,
           f"the variant that ranks first on {answer!r} keeps fewer readers than the variant "
           "another candidate ranks first: a primary metric should point to the variant the "
           "long-term goal prefers.")
    passed(task)


def _sessions(p_a: float, p_b: float, alpha: float, power: float, sides: int = 2) -> float:
    from scipy.stats import norm

    z = norm.ppf(1 - alpha / sides) + norm.ppf(power)
    return float(z**2 * (p_a * (1 - p_a) + p_b * (1 - p_b)) / (p_a - p_b) ** 2)


def sessions_per_arm(value: Any, p_current: float, *, relative_lift: float,
                     alpha: float = 0.05, power: float = 0.8) -> None:
    """Check the decision ``SESSIONS_PER_ARM`` of the review's online test.

    The test compares the current ranker, whose rate of the primary metric is
    ``p_current``, with a new one that raises it by ``relative_lift`` (a share of the
    current rate). The reference is Lab 02's normal-approximation size of a two-sided
    two-proportion test per arm; answers within 8% of it are accepted, and the decision
    is recorded as that ratio (so a slip in planning rates elsewhere costs nothing here).

    Parameters
    ----------
    value : int
        The learner's ``SESSIONS_PER_ARM``.
    p_current : float
        The current ranker's rate, in (0, 1).
    relative_lift : float
        The smallest relative lift worth detecting, e.g. 0.02 for 2%.
    alpha, power : float
        Two-sided level and power.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> sessions_per_arm(26025, 0.6, relative_lift=0.02)
    [ok] sessions_per_arm: all checks passed
    >>> sessions_per_arm(9333, 0.6, relative_lift=0.02)
    Traceback (most recent call last):
    ...
    AssertionError: sessions_per_arm: 9333 sessions per arm is too few to detect the lift \
the plan asks for. Is the lift relative? A 2% lift raises the rate to 1.02 times the current \
rate, not by 2 points.
    """
    task = "sessions_per_arm"
    expect(0 < p_current < 1 and 0 < relative_lift and p_current * (1 + relative_lift) < 1,
           task, "give the check the current rate (between 0 and 1) and a positive relative "
                 "lift that keeps the new rate below 1.")
    n = expect_number(task, value)
    p_new = p_current * (1 + relative_lift)
    planned = _sessions(p_current, p_new, alpha, power)
    record(task, share_of_plan=_decision(n / planned, between=(0.92, 1.08)))
    expect(n == int(n) and n > 0, task, "give a whole, positive number of sessions.")
    if 0.92 <= n / planned <= 1.08:
        passed(task)
        return
    absolute = _sessions(p_current, min(p_current + relative_lift, 1 - 1e-9), alpha, power)
    one_sided = _sessions(p_current, p_new, alpha, power, sides=1)
    if math.isclose(n, absolute, rel_tol=0.05):
        expect(False, task, f"{n:.0f} sessions per arm is too few to detect the lift the "
                            "plan asks for. Is the lift relative? A "
                            f"{relative_lift:.0%} lift raises the rate to "
                            f"{1 + relative_lift:g} times the current rate, not by "
                            f"{100 * relative_lift:g} points.")
    if math.isclose(n, one_sided, rel_tol=0.03):
        expect(False, task, f"{n:.0f} sessions per arm is too few: is the test two-sided "
                            "(the level alpha split over both tails)?")
    if n > 1.9 * planned:
        expect(False, task, f"{n:.0f} sessions per arm is far more than needed: is it the "
                            "size of both arms together? The formula gives each arm's size.")
    expect(False, task, f"{n:.0f} sessions per arm is too "
                        + ("few: the test would miss the lift more often than planned."
                           if n < planned else
                           "many: the plan needs fewer. Check the quantiles for the level "
                           "and the power."))
