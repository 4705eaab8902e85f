"""Completeness checks for a written design review.

A design review answers the questions each phase of a project raises (setup, data,
modeling, serving) in a few sentences each, with numbers where a question asks for one.
Whether an answer is *good* needs a person and a rubric; whether the review is
*complete* can be checked by a program, and that is what this module does:

* :class:`Field`: one question of a review, the key its answer is stored under, and
  the kind of answer it wants (a few words of text, text quoting a measured number, a
  number, or a table of numbers);
* :func:`skeleton`: the template a learner fills in, a Python ``dict`` whose values are
  the placeholder :data:`PLACEHOLDER`, each question written above its key;
* :func:`completeness`: what is still missing in a filled-in review (a key left out,
  the placeholder left in, a one-word answer, an answer that repeats its question or
  another answer, text where a number belongs), as a :class:`Completeness`;
* :func:`figure_problems`: what a figure the review requires still lacks (axis labels,
  a title, a legend naming every series).

Nothing here judges content: a complete review can still be wrong.

Examples
--------
>>> fields = (Field("goal", "What should the system achieve, and for whom?"),
...           Field("latency_ms", "How fast must it answer?", kind="number", unit="ms"))
>>> result = completeness({"goal": "...", "latency_ms": "fast"}, fields)
>>> result.complete, result.share
(False, 0.0)
>>> print(result.report())
goal: the template's placeholder is still there; write your answer.
latency_ms: give a number (ms), not text: got 'fast'.
>>> completeness({"goal": "Keep readers informed without amplifying false stories.",
...               "latency_ms": 150}, fields).complete
True
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["FIELD_KINDS", "MIN_WORDS", "PLACEHOLDER", "Completeness", "Field", "completeness",
           "field_problem", "figure_problems", "is_placeholder", "skeleton",
           "word_count"]

#: What the template puts where an answer belongs.
PLACEHOLDER = "..."
#: The kinds of answer a field can ask for: ``text`` (a few words), ``measured`` (a few
#: words quoting at least one number), ``number`` (a positive number) and ``numbers``
#: (a mapping of at least two labels to positive numbers, e.g. a latency breakdown).
FIELD_KINDS = ("text", "measured", "number", "numbers")
#: Words a text answer needs by default.
MIN_WORDS = 6

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_DIGIT = re.compile(r"\d")
# Stand-ins people leave where an answer belongs (compared after lower-casing and
# dropping everything but letters, digits and spaces).
_STAND_INS = {"", "todo", "tbd", "tbc", "na", "n a", "xxx", "xx", "x",
              "fill in", "fill me in", "your answer", "your answer here", "answer here",
              "write your answer here", "to do", "to be done", "lorem ipsum", "placeholder",
              "same as above", "see above", "dunno", "idk", "not sure", "later"}
_STAND_IN_START = ("todo", "tbd", "lorem ipsum", "fill in", "your answer")


def word_count(text: Any) -> int:
    """The number of words in ``text`` (runs of letters or digits; 0 for a non-string).

    Examples
    --------
    >>> word_count("Rank posts by predicted long reads, not clicks.")
    8
    >>> word_count("...")
    0
    """
    if not isinstance(text, str):
        return 0
    return len(_WORD.findall(text))


def _normal(text: str) -> str:
    return " ".join(w.lower() for w in _WORD.findall(text))


def is_placeholder(text: Any) -> bool:
    """Whether ``text`` is the template's placeholder or a stand-in such as "TODO".

    The template writes ``"..."`` for text and Python's ``...`` (Ellipsis) for numbers;
    both count as placeholders.

    Examples
    --------
    >>> is_placeholder("...")
    True
    >>> is_placeholder(...)
    True
    >>> is_placeholder("  TODO: ask the team ")
    True
    >>> is_placeholder("Measure long reads per session.")
    False
    """
    if text is Ellipsis:
        return True
    if not isinstance(text, str):
        return False
    normal = _normal(text)
    return normal in _STAND_INS or normal.startswith(_STAND_IN_START)


@dataclass(frozen=True)
class Field:
    """One question of a review and the answer it asks for.

    Attributes
    ----------
    name : str
        The key the answer is stored under (a Python identifier, e.g. ``"goal"``).
    question : str
        The question, as the template shows it.
    kind : str
        One of :data:`FIELD_KINDS`.
    min_words : int
        Words a ``text`` or ``measured`` answer needs (default :data:`MIN_WORDS`).
    unit : str
        The unit of a ``number`` or ``numbers`` answer, named in messages (e.g. ``"ms"``).

    Examples
    --------
    >>> Field("latency_ms", "How fast?", kind="number", unit="ms").kind
    'number'
    >>> Field("goal", "")
    Traceback (most recent call last):
    ...
    ValueError: Field 'goal' needs a question: a non-empty string.
    """

    name: str
    question: str
    kind: str = "text"
    min_words: int = MIN_WORDS
    unit: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"a Field's name must be a Python identifier such as 'goal', "
                             f"got {self.name!r}.")
        if not isinstance(self.question, str) or not self.question.strip():
            raise ValueError(f"Field {self.name!r} needs a question: a non-empty string.")
        if self.kind not in FIELD_KINDS:
            raise ValueError(f"Field {self.name!r} has kind {self.kind!r}; use one of "
                             f"{', '.join(FIELD_KINDS)}.")
        if isinstance(self.min_words, bool) or not isinstance(self.min_words, int) \
                or self.min_words < 1:
            raise ValueError(f"Field {self.name!r} needs min_words, a whole number of at "
                             f"least 1, got {self.min_words!r}.")
        if not isinstance(self.unit, str):
            raise ValueError(f"Field {self.name!r} needs unit as a string, got "
                             f"{type(self.unit).__name__}.")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) \
        and math.isfinite(float(value))


def _unit(field: Field) -> str:
    return f" ({field.unit})" if field.unit else ""


def _text_problem(field: Field, value: Any) -> str:
    if is_placeholder(value):
        return "the template's placeholder is still there; write your answer."
    if value is None:
        return "no answer yet (None); write one."
    if not isinstance(value, str):
        return f"write the answer as text (a string), got {type(value).__name__}."
    words = word_count(value)
    if words < field.min_words:
        return (f"{words} word(s) is too short to answer the question; write at least "
                f"{field.min_words}.")
    answer = set(_normal(value).split())
    if answer <= set(_normal(field.question).split()):
        return "the answer repeats the question; answer it instead."
    if field.kind == "measured" and not _DIGIT.search(value):
        return "quote the measured number(s) the question asks for."
    return ""


def _number_problem(field: Field, value: Any) -> str:
    if is_placeholder(value):
        return f"give a number{_unit(field)}; the placeholder is still there."
    if value is None:
        return f"no answer yet (None); give a number{_unit(field)}."
    if isinstance(value, str):
        return f"give a number{_unit(field)}, not text: got {_shown(value)}."
    if not _is_number(value):
        return f"give a single finite number{_unit(field)}, got {_shown(value)}."
    if float(value) <= 0:
        return f"give a positive number{_unit(field)}, got {value!r}."
    return ""


def _numbers_problem(field: Field, value: Any) -> str:
    if is_placeholder(value):
        return "give a table of numbers; the placeholder is still there."
    if value is None:
        return "no answer yet (None); give a table of numbers."
    if not isinstance(value, Mapping):
        return (f"give a dict from each item to its number{_unit(field)}, got "
                f"{type(value).__name__}.")
    if len(value) < 2:
        return f"list at least two items with their numbers{_unit(field)}."
    for label, number in value.items():
        if not isinstance(label, str) or not label.strip() or is_placeholder(label):
            return f"name every item with a few words, got the key {_shown(label)}."
        if not _is_number(number) or float(number) < 0:
            return (f"give every item a non-negative number{_unit(field)}; {label!r} has "
                    f"{_shown(number)}.")
    return ""


def field_problem(field: Field, value: Any) -> str:
    """Why ``value`` does not yet answer ``field`` completely, or ``""`` when it does.

    Examples
    --------
    >>> field_problem(Field("goal", "What is the goal?"), "Engagement.")
    '1 word(s) is too short to answer the question; write at least 6.'
    >>> field_problem(Field("n", "How many per day?", kind="number"), 2_000_000)
    ''
    """
    if not isinstance(field, Field):
        raise TypeError(f"field must be a labkit.review.Field, got {type(field).__name__}.")
    if field.kind == "number":
        return _number_problem(field, value)
    if field.kind == "numbers":
        return _numbers_problem(field, value)
    return _text_problem(field, value)


@dataclass(frozen=True)
class Completeness:
    """What :func:`completeness` found, field by field.

    Attributes
    ----------
    problems : dict
        Field name -> why its answer is incomplete, ``""`` when it is complete; in the
        order of the fields.
    """

    problems: dict[str, str]

    @property
    def answered(self) -> dict[str, bool]:
        """Field name -> whether it is answered completely."""
        return {name: not why for name, why in self.problems.items()}

    @property
    def share(self) -> float:
        """The share of fields answered completely (1.0 for a review without fields)."""
        if not self.problems:
            return 1.0
        return sum(self.answered.values()) / len(self.problems)

    @property
    def complete(self) -> bool:
        """Whether every field is answered completely."""
        return all(self.answered.values())

    @property
    def missing(self) -> list[str]:
        """The fields still incomplete, in order."""
        return [name for name, why in self.problems.items() if why]

    def report(self) -> str:
        """One line per incomplete field, ``"name: why"`` (empty when complete)."""
        return "\n".join(f"{name}: {why}" for name, why in self.problems.items() if why)


def _fields(fields: Any) -> tuple[Field, ...]:
    if isinstance(fields, (str, bytes)) or not isinstance(fields, Sequence):
        raise TypeError("fields must be a sequence (a tuple or list) of labkit.review.Field, "
                        f"got {type(fields).__name__}.")
    out = tuple(fields)
    for field in out:
        if not isinstance(field, Field):
            raise TypeError(f"fields must hold labkit.review.Field objects, got "
                            f"{type(field).__name__}.")
    names = [f.name for f in out]
    if len(set(names)) != len(names):
        raise ValueError("two fields share a name; each question needs its own key.")
    return out


def completeness(answers: Any, fields: Sequence[Field]) -> Completeness:
    """Check that ``answers`` answers every one of ``fields`` completely.

    A field is complete when its key is present and its answer has the field's kind:
    for text, at least ``min_words`` words that are not the template's placeholder or a
    stand-in such as "TODO", do not merely repeat the question, and are not the same as
    another field's answer (each question answered on its own); ``measured`` text also
    quotes a number; a ``number`` is a positive finite number; ``numbers`` is a mapping
    of at least two labels to non-negative numbers. Keys that are not fields are
    ignored.

    Parameters
    ----------
    answers : mapping
        Field name -> answer, as the learner fills in the template of :func:`skeleton`.
    fields : sequence of Field
        The questions.

    Returns
    -------
    Completeness

    Raises
    ------
    TypeError
        When ``answers`` is not a mapping or ``fields`` not a sequence of Field.

    Examples
    --------
    >>> fields = (Field("data", "How did you collect the data?", min_words=3),
    ...           Field("models", "Which models did you try?", min_words=3))
    >>> same = "Logged every tap on the feed."
    >>> print(completeness({"data": same, "models": same}, fields).report())
    models: the same answer as 'data'; answer each question on its own.
    >>> completeness([], fields)
    Traceback (most recent call last):
    ...
    TypeError: answers must be a dict from each question's key to your answer, got list.
    """
    checked = _fields(fields)
    if not isinstance(answers, Mapping):
        raise TypeError("answers must be a dict from each question's key to your answer, "
                        f"got {type(answers).__name__}.")
    problems: dict[str, str] = {}
    seen: dict[str, str] = {}
    for field in checked:
        if field.name not in answers:
            problems[field.name] = f"missing: add the key {field.name!r} with your answer."
            continue
        value = answers[field.name]
        why = field_problem(field, value)
        if not why and field.kind in ("text", "measured"):
            normal = _normal(value)
            if normal in seen:
                why = (f"the same answer as {seen[normal]!r}; answer each question on its "
                       "own.")
            else:
                seen[normal] = field.name
        problems[field.name] = why
    return Completeness(problems)


def skeleton(name: str, fields: Sequence[Field]) -> str:
    """The template of a review section: Python source that assigns a dict of placeholders.

    Each question is written as a comment above its key; what a number or a table of
    numbers should look like is said in the comment. The learner copies the template
    into the answer cell and replaces every :data:`PLACEHOLDER`.

    Parameters
    ----------
    name : str
        The variable the section is assigned to, e.g. ``"SETUP"``.
    fields : sequence of Field
        The questions.

    Examples
    --------
    >>> print(skeleton("PAST", (Field("data", "How did you collect the data?"),
    ...                        Field("hours", "How long did labelling take?",
    ...                              kind="number", unit="hours"))))
    PAST = {
        # How did you collect the data?
        "data": "...",
        # How long did labelling take? (a number, in hours)
        "hours": ...,
    }
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"name must be a Python identifier such as 'SETUP', got {name!r}.")
    lines = [f"{name} = {{"]
    for field in _fields(fields):
        question = " ".join(field.question.split())
        if field.kind == "number":
            question += f" (a number{', in ' + field.unit if field.unit else ''})"
            value = "..."
        elif field.kind == "numbers":
            question += (f" (a dict from each item to its number"
                         f"{', in ' + field.unit if field.unit else ''})")
            value = "..."
        else:
            if field.kind == "measured":
                question += " (quote the measured numbers)"
            value = f'"{PLACEHOLDER}"'
        lines.append(f"    # {question}")
        lines.append(f'    "{field.name}": {value},')
    lines.append("}")
    return "\n".join(lines)


def _legend_texts(fig: Any) -> list[str]:
    texts = []
    legends = [ax.get_legend() for ax in fig.get_axes()] + list(getattr(fig, "legends", []))
    for legend in legends:
        if legend is not None:
            texts += [t.get_text() for t in legend.get_texts()]
    return texts


def _has_data(ax: Any) -> bool:
    lines = [line for line in ax.get_lines() if len(line.get_xdata()) >= 2]
    return bool(lines or ax.containers or ax.collections or ax.patches)


def figure_problems(fig: Any, series: Sequence[str] = ()) -> list[str]:
    """What a required figure still lacks; an empty list when it is complete.

    A complete figure is a matplotlib figure with data on at least one of its axes,
    whose axes with data all carry x and y labels, with a title (of an axes or of the
    figure), and, when ``series`` names what it must show, a legend naming each of them.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure (e.g. the first value of ``plt.subplots()``).
    series : sequence of str
        Names the legend must show (compared without regard to case).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> _ = ax.plot([1, 2, 3], [0.1, 0.3, 0.4], label="random order")
    >>> figure_problems(fig, ["random order", "editors' picks"])
    ['label the x axis', 'label the y axis', 'give the figure a title', 'add a legend that \
names each series']
    >>> _ = ax.plot([1, 2, 3], [0.2, 0.5, 0.7], label="editors' picks")
    >>> _ = ax.set(xlabel="posts read", ylabel="long reads", title="Baselines")
    >>> _ = ax.legend()
    >>> figure_problems(fig, ["random order", "editors' picks"])
    []
    >>> plt.close(fig)
    """
    if isinstance(series, (str, bytes)) or not isinstance(series, Sequence) \
            or not all(isinstance(s, str) for s in series):
        raise TypeError("series must be a sequence of names (strings), e.g. the columns "
                        "the figure plots.")
    if not (hasattr(fig, "get_axes") and hasattr(fig, "savefig")):
        return [f"expected a matplotlib figure (the fig of plt.subplots()), got "
                f"{type(fig).__name__}"]
    drawn = [ax for ax in fig.get_axes() if _has_data(ax)]
    if not drawn:
        return ["the figure shows no data: draw on its axes"]
    problems = []
    if not all(ax.get_xlabel().strip() for ax in drawn):
        problems.append("label the x axis")
    if not all(ax.get_ylabel().strip() for ax in drawn):
        problems.append("label the y axis")
    suptitle = fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""
    if not (suptitle.strip() or any(ax.get_title().strip() for ax in fig.get_axes())):
        problems.append("give the figure a title")
    if series:
        texts = [t.lower() for t in _legend_texts(fig)]
        if not texts:
            problems.append("add a legend that names each series")
        else:
            absent = [s for s in series if not any(s.lower() in t for t in texts)]
            if absent:
                problems.append("the legend does not name " + ", ".join(map(repr, absent)))
    return problems
