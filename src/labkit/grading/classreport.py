"""The class report: ``DIR/report.html``, a picture of how the whole class did.

One static, self-contained page (inline CSS and SVG charts, no script, nothing fetched;
a Content-Security-Policy forbids the page any request) that shows:

* the score distribution (a histogram of totals);
* the pass rate per task;
* the most common reasons each task failed, grouped: messages are normalised
  (numbers, quoted text and addresses in the free-text part replaced by placeholders) so
  that "raised ValueError: could not convert 'abc'" and "... 'xyz'" count as one reason;
* the runs to look at first (``timeout``, ``killed``, ``invalid``, ``error``), each
  linked to its feedback file;
* the LMS exports written and their warnings.

It is a function of the records alone (no times, no throughput), so the same batch
graded here or on a cluster, or resumed, gives the same page, byte for byte. Everything
a submission controls (its id, error messages) is HTML-escaped.
"""

from __future__ import annotations

import html
import math
import re
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from .report import _atomic, feedback_name
from .status import Status, TaskState

__all__ = ["LOOK_FIRST", "failure_groups", "normalize_reason", "write_class_report"]

#: Statuses listed under "runs to look at", in this order.
LOOK_FIRST = (Status.TIMEOUT, Status.KILLED, Status.INVALID, Status.ERROR)
_STATUS_TEXT = {
    Status.GRADED: "ran to the end; every task passed or failed",
    Status.PARTIAL: "ran to the end; some tasks raised, timed out or recorded nothing",
    Status.NOT_IMPLEMENTED: "no task attempted",
    Status.ERROR: "the run stopped early (kernel exited or crashed), or was not graded",
    Status.TIMEOUT: "ran past the submission time limit and was stopped",
    Status.KILLED: "hit a memory or process limit",
    Status.INVALID: "not a notebook the grader reads",
}
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b")
_QUOTED = re.compile(r"'[^'\n]{0,200}'|\"[^\"\n]{0,200}\"")
_NUMBER = re.compile(r"(?<![A-Za-z_\d.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![A-Za-z_\d])")
_PATH = re.compile(r"(?:/[\w.-]+){2,}")
_MAX_GROUPS = 6
_MAX_EXAMPLES = 5
# Colours with at least 4.5:1 contrast on white (text) and 3:1 (bars).
_BAR, _PASS, _AXIS, _TEXT = "#3b6ea5", "#2e7d32", "#555555", "#222222"


def normalize_reason(message: str) -> str:
    """The reason a message gives, with what varies between students taken out.

    The grader's own words before the first ``": "`` are kept as they are; in the
    free text after it (an exception's message, a self-check's words), addresses,
    paths, quoted text and numbers become ``0x…``, ``<path>``, ``'…'`` and ``N``.

    Examples
    --------
    >>> normalize_reason("its answer cell raised ValueError: could not convert 'abc' (3)")
    "its answer cell raised ValueError: could not convert '…' (N)"
    >>> normalize_reason("its answer cell raised ValueError: could not convert 'xy' (12)")
    "its answer cell raised ValueError: could not convert '…' (N)"
    >>> normalize_reason("its check cell ran past the per-cell time limit of 120 s")
    'its check cell ran past the per-cell time limit of 120 s'
    >>> normalize_reason("its self-check failed: x2 should be 0.5, got -1e-3 at 0x7f3a")
    'its self-check failed: x2 should be N, got N at 0x…'
    """
    text = " ".join(str(message).split())
    head, sep, tail = text.partition(": ")
    if not sep:
        return text
    tail = _HEX.sub("0x…", tail)
    tail = _PATH.sub("<path>", tail)
    tail = _QUOTED.sub("'…'", tail)
    tail = _NUMBER.sub("N", tail)
    return f"{head}: {tail}"[:300]


def failure_groups(records: list[dict[str, Any]], tasks: dict[str, dict[str, Any]]
                   ) -> dict[str, list[dict[str, Any]]]:
    """Per task, its failure reasons grouped and counted, most common first.

    Each group: ``state``, ``reason`` (normalised), ``count``, ``example`` (one
    message as it was) and ``ids`` (the submissions).

    Examples
    --------
    >>> recs = [{"id": i, "tasks": [{"task": "t", "state": "error",
    ...          "message": f"its answer cell raised KeyError: '{i}'"}]} for i in "abc"]
    >>> [(g["reason"], g["count"]) for g in failure_groups(recs, {"t": {}})["t"]]
    [("its answer cell raised KeyError: '…'", 3)]
    """
    found: dict[str, dict[tuple[str, str], dict[str, Any]]] = {t: {} for t in tasks}
    for record in records:
        for verdict in record.get("tasks", []):
            task = verdict.get("task")
            if task not in found or verdict.get("state") == TaskState.PASSED:
                continue
            key = (str(verdict.get("state")), normalize_reason(verdict.get("message", "")))
            group = found[task].setdefault(key, {"state": key[0], "reason": key[1],
                                                 "count": 0, "ids": [],
                                                 "example": verdict.get("message", "")})
            group["count"] += 1
            group["ids"].append(record["id"])
    return {task: sorted(groups.values(), key=lambda g: (-g["count"], g["state"], g["reason"]))
            for task, groups in found.items()}


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _histogram(scores: list[int], maximum: int) -> str:
    """An SVG histogram of the totals: one bar per score (bins past 40 points)."""
    width = max(1, math.ceil((maximum + 1) / 41))
    bins = list(range(0, maximum + 1, width))
    counts = [sum(1 for s in scores if b <= s < b + width) for b in bins]
    tick = _nice_step(max([1, *counts]) / 4)
    top = tick * math.ceil(max([1, *counts]) / tick)
    w, h, left, bottom, pad = 720, 260, 48, 40, 16
    plot_w, plot_h = w - left - pad, h - bottom - pad
    step = plot_w / len(bins)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" '
             f'height="{h}" role="img" aria-labelledby="hist-title hist-desc">',
             '<title id="hist-title">Score distribution</title>',
             f'<desc id="hist-desc">Number of submissions per total score, from 0 to '
             f'{maximum} points: ' + ", ".join(
                 f"{b if width == 1 else f'{b}-{b + width - 1}'}: {c}"
                 for b, c in zip(bins, counts, strict=True) if c) + '.</desc>']
    for value in range(0, top + 1, tick):
        y = pad + plot_h - plot_h * value / top
        parts.append(f'<line x1="{left}" x2="{w - pad}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="#dddddd" stroke-width="1"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
                     f'font-size="12" fill="{_AXIS}">{value}</text>')
    label_every = max(1, math.ceil(len(bins) / 20))
    for i, (b, c) in enumerate(zip(bins, counts, strict=True)):
        x = left + i * step
        bar_h = plot_h * c / top
        if c:
            parts.append(f'<rect x="{x + step * 0.1:.1f}" y="{pad + plot_h - bar_h:.1f}" '
                         f'width="{step * 0.8:.1f}" height="{bar_h:.1f}" fill="{_BAR}"/>')
            parts.append(f'<text x="{x + step / 2:.1f}" y="{pad + plot_h - bar_h - 4:.1f}" '
                         f'text-anchor="middle" font-size="12" fill="{_TEXT}">{c}</text>')
        if i % label_every == 0 or i == len(bins) - 1:
            parts.append(f'<text x="{x + step / 2:.1f}" y="{pad + plot_h + 16}" '
                         f'text-anchor="middle" font-size="12" fill="{_AXIS}">{b}</text>')
    parts.append(f'<line x1="{left}" x2="{w - pad}" y1="{pad + plot_h}" y2="{pad + plot_h}" '
                 f'stroke="{_AXIS}" stroke-width="1"/>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{h - 4}" text-anchor="middle" '
                 f'font-size="13" fill="{_TEXT}">total points (of {maximum})</text>')
    parts.append('</svg>')
    return "\n".join(parts)


def _nice_step(raw: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... at least ``raw`` (axis tick spacing).

    Examples
    --------
    >>> [_nice_step(x) for x in (0.3, 1, 3.5, 7, 26)]
    [1, 1, 5, 10, 50]
    """
    scale = 1
    while True:
        for base in (1, 2, 5):
            if base * scale >= raw:
                return base * scale
        scale *= 10


def _pass_rates(rates: list[tuple[str, int, int, int]]) -> str:
    """An SVG bar chart: per task, the share of run submissions that passed it."""
    w, row, left, right = 720, 30, 190, 120
    h = row * len(rates) + 36
    plot_w = w - left - right
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" '
             f'height="{h}" role="img" aria-labelledby="rate-title rate-desc">',
             '<title id="rate-title">Pass rate per task</title>',
             '<desc id="rate-desc">' + _e("; ".join(
                 f"{task}: {passed} of {n} passed" for task, _, passed, n in rates))
             + '</desc>']
    for i, (task, points, passed, n) in enumerate(rates):
        y = 8 + i * row
        share = passed / n if n else 0.0
        parts.append(f'<text x="{left - 8}" y="{y + 17}" text-anchor="end" font-size="13" '
                     f'fill="{_TEXT}">{_e(task)} ({points} pt{"s" if points != 1 else ""})'
                     '</text>')
        parts.append(f'<rect x="{left}" y="{y + 4}" width="{plot_w}" height="18" '
                     'fill="#eeeeee"/>')
        if passed:
            parts.append(f'<rect x="{left}" y="{y + 4}" width="{plot_w * share:.1f}" '
                         f'height="18" fill="{_PASS}"/>')
        parts.append(f'<text x="{left + plot_w + 8}" y="{y + 17}" font-size="13" '
                     f'fill="{_TEXT}">{100 * share:.0f}% ({passed}/{n})</text>')
    y = 8 + len(rates) * row + 14
    for k in range(0, 5):
        x = left + plot_w * k / 4
        parts.append(f'<text x="{x:.1f}" y="{y}" text-anchor="middle" font-size="11" '
                     f'fill="{_AXIS}">{25 * k}%</text>')
    parts.append('</svg>')
    return "\n".join(parts)


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       margin: 0; background: #fafafa; line-height: 1.45; }
main { max-width: 980px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
h2 { font-size: 1.25rem; margin: 32px 0 8px; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05rem; margin: 20px 0 6px; }
p.meta { color: #444; margin: 0 0 8px; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 0.92rem; width: 100%; }
th, td { border: 1px solid #d4d4d4; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num, th.num { text-align: right; white-space: nowrap; }
td.reason { word-break: break-word; }
td.state { white-space: nowrap; }
.example { color: #555; font-size: 0.85rem; }
.status { font-weight: 600; }
.warn { background: #fff4e5; border-left: 4px solid #b26a00; padding: 6px 10px; }
svg { max-width: 100%; height: auto; }
a { color: #1a55a0; }
"""


def write_class_report(path: Path, title: str, tasks: dict[str, dict[str, Any]],
                       records: list[dict[str, Any]], *, pool_size: int | None = None,
                       sandbox: str = "", bundle: dict[str, Any] | None = None,
                       exports: list[dict[str, Any]] | None = None,
                       warnings: list[str] | None = None) -> Path:
    """Write ``report.html`` for one graded batch and return its path.

    Parameters
    ----------
    path : Path
        The file to write (``DIR/report.html``; feedback links are relative to it).
    title : str
        The lab (its slug).
    tasks : dict
        The lab's tasks (name -> ``points``).
    records : list of dict
        One record per submission, as :func:`labkit.grading.grade` keeps them.
    pool_size, sandbox, bundle, exports, warnings
        What the header and the last section say (the number of grading seeds, the
        isolation, the bundle graded from, the LMS exports and their warnings).

    Examples
    --------
    >>> import tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> rec = {"id": "<ann>", "total": 1, "max": 1, "status": "graded", "reason": "1/1",
    ...        "tasks": [{"task": "t", "points": 1, "max_points": 1, "state": "passed",
    ...                   "message": "passed"}]}
    >>> page = write_class_report(Path(tmp.name) / "report.html", "lab", {"t": {"points": 1}},
    ...                           [rec]).read_text()
    >>> "&lt;ann&gt;" in page or "<ann>" not in page, "100% (1/1)" in page
    (True, True)
    >>> tmp.cleanup()
    """
    maximum = sum(int(t["points"]) for t in tasks.values())
    scores = [int(r.get("total", 0)) for r in records]
    counts = Counter(str(r["status"]) for r in records)
    ran = [r for r in records if r.get("tasks")]
    rates = []
    for task, info in tasks.items():
        passed = sum(1 for r in ran for v in r["tasks"]
                     if v.get("task") == task and v.get("state") == TaskState.PASSED)
        rates.append((task, int(info["points"]), passed, len(ran)))
    groups = failure_groups(records, tasks)
    out: list[str] = [
        '<!DOCTYPE html>', '<html lang="en">', '<head>', '<meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        'style-src \'unsafe-inline\'; img-src data:">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<title>Class report: {_e(title)}</title>', f'<style>{_CSS}</style>', '</head>',
        '<body>', '<main>', f'<h1>Class report: {_e(title)}</h1>']
    summary = [f"{len(records)} submission{'s' if len(records) != 1 else ''}",
               f"{maximum} points in all"]
    if scores:
        summary += [f"mean {statistics.fmean(scores):.1f}",
                    f"median {statistics.median(scores):g}"]
    out.append(f'<p class="meta">{_e(", ".join(summary))}.</p>')
    details = []
    if pool_size is not None:
        details.append(f"{pool_size} grading seed{'s' if pool_size != 1 else ''}")
    if sandbox:
        details.append(f"isolation: {sandbox}")
    if bundle:
        details.append(f"graded from bundle {Path(bundle['path']).name} (SHA-256 "
                       f"{bundle['sha256'][:16]}…, labkit {bundle['labkit_version']}, "
                       f"assigned {bundle.get('created') or 'at an unknown time'})")
    if details:
        out.append(f'<p class="meta">{_e("; ".join(details))}.</p>')
    for warning in warnings or []:
        out.append(f'<p class="warn">Warning: {_e(warning)}</p>')

    out += ['<h2 id="status">Submissions by status</h2>', '<table>',
            '<thead><tr><th scope="col">status</th><th scope="col" class="num">submissions'
            '</th><th scope="col">meaning</th></tr></thead>', '<tbody>']
    for status in Status:
        if counts.get(status.value):
            out.append(f'<tr><td class="status">{_e(status.value)}</td><td class="num">'
                       f'{counts[status.value]}</td><td>{_e(_STATUS_TEXT[status])}</td></tr>')
    out += ['</tbody>', '</table>']

    out += ['<h2 id="scores">Score distribution</h2>', _histogram(scores, maximum)]
    if len(ran) != len(records):
        out.append(f'<p class="meta">{len(records) - len(ran)} submission(s) that never '
                   'ran (invalid, or not graded) count with 0 points.</p>')

    out += ['<h2 id="tasks">Pass rate per task</h2>', _pass_rates(rates),
            f'<p class="meta">Out of the {len(ran)} submission(s) that ran.</p>',
            '<table>', '<thead><tr><th scope="col">task</th><th scope="col" class="num">'
            'points</th>' + "".join(f'<th scope="col" class="num">{_e(s.value)}</th>'
                                    for s in TaskState) + '</tr></thead>', '<tbody>']
    for task, info in tasks.items():
        states = Counter(str(v.get("state")) for r in ran for v in r["tasks"]
                         if v.get("task") == task)
        out.append(f'<tr><td>{_e(task)}</td><td class="num">{int(info["points"])}</td>'
                   + "".join(f'<td class="num">{states.get(s.value, 0)}</td>'
                             for s in TaskState) + '</tr>')
    out += ['</tbody>', '</table>']

    out.append('<h2 id="reasons">Why tasks failed</h2>')
    out.append('<p class="meta">The most common reasons per task. Messages are grouped '
               "once numbers, quoted text and addresses in a student's error message are "
               'replaced by N, \'…\' and 0x…; one message as it was is shown under each.</p>')
    for task in tasks:
        task_groups = groups[task]
        out.append(f'<h3>{_e(task)}</h3>')
        if not task_groups:
            out.append('<p>Every submission that ran passed it.</p>')
            continue
        out += ['<table>', '<thead><tr><th scope="col" class="num">submissions</th>'
                '<th scope="col">state</th><th scope="col">reason</th>'
                '<th scope="col">for example</th></tr></thead>', '<tbody>']
        for group in task_groups[:_MAX_GROUPS]:
            example = "" if group["example"] == group["reason"] else (
                f'<div class="example">as written: {_e(group["example"][:300])}</div>')
            ids = ", ".join(_link(i) for i in group["ids"][:_MAX_EXAMPLES])
            more = len(group["ids"]) - _MAX_EXAMPLES
            ids += f" and {more} more" if more > 0 else ""
            out.append(f'<tr><td class="num">{group["count"]}</td><td class="state">'
                       f'{_e(group["state"])}</td><td class="reason">'
                       f'{_e(group["reason"])}{example}</td><td>{ids}</td></tr>')
        rest = task_groups[_MAX_GROUPS:]
        if rest:
            out.append(f'<tr><td class="num">{sum(g["count"] for g in rest)}</td><td></td>'
                       f'<td>{len(rest)} other reason(s)</td><td></td></tr>')
        out += ['</tbody>', '</table>']

    look = sorted((r for r in records if str(r["status"]) in LOOK_FIRST),
                  key=lambda r: (LOOK_FIRST.index(Status(str(r["status"]))), r["id"]))
    out.append('<h2 id="look">Runs to look at first</h2>')
    if look:
        out += ['<p class="meta">Submissions that timed out, were killed at a limit, could '
                'not be read, or stopped early: a student may deserve a second look.</p>',
                '<table>', '<thead><tr><th scope="col">submission</th><th scope="col">status'
                '</th><th scope="col" class="num">points</th><th scope="col">reason</th>'
                '</tr></thead>', '<tbody>']
        for record in look:
            out.append(f'<tr><td>{_link(record["id"])}</td><td class="status">'
                       f'{_e(record["status"])}</td><td class="num">{int(record["total"])} / '
                       f'{int(record["max"])}</td><td class="reason">{_e(record["reason"])}'
                       '</td></tr>')
        out += ['</tbody>', '</table>']
    else:
        out.append('<p>None: no run timed out, was killed, was invalid or stopped early.</p>')

    if exports:
        out.append('<h2 id="lms">LMS export</h2>')
        for export in exports:
            out.append(f'<p>{_e(export["platform"])}: <a href="{_e(Path(export["path"]).name)}"'
                       f'>{_e(Path(export["path"]).name)}</a>, {export["rows"]} row(s).</p>')
            if export["warnings"]:
                out.append('<ul>' + "".join(f'<li>{_e(w)}</li>' for w in export["warnings"])
                           + '</ul>')
    out += ['</main>', '</body>', '</html>', '']
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic(path, "\n".join(out))
    return path


def _link(student: str) -> str:
    href = "feedback/" + feedback_name(student)
    return f'<a href="{_e(href)}">{_e(student)}</a>'

