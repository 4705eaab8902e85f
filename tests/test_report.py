"""The class report, ``DIR/report.html``: what it shows, reason grouping, escaping, and
(grading tier) that it opens in headless Chromium with no console error and no request,
with a screenshot kept for review."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from labkit.grading.classreport import failure_groups, normalize_reason, write_class_report
from labkit.grading.report import feedback_name, write_feedback

TASKS = {"mean": {"points": 2}, "scale": {"points": 3}, "cutoff": {"points": 1}}
ROOT = Path(__file__).resolve().parents[1]


def _task(name, state, message=None):
    points = TASKS[name]["points"]
    return {"task": name, "points": points if state == "passed" else 0,
            "max_points": points, "state": state, "message": message or state}


def _record(sid, status, tasks, reason=None):
    total = sum(t["points"] for t in tasks)
    return {"id": sid, "status": status, "total": total, "max": 6, "notes": {},
            "tasks": tasks, "reason": reason or f"{sum(t['state'] == 'passed' for t in tasks)}"
                                                 f"/3 tasks passed"}


def _class():
    """A class of 30: most pass, a common slip on 'scale' with varying values, timeouts,
    a killed run, invalid files and a hostile id."""
    records = []
    for i in range(14):
        records.append(_record(f"s{i:02d}", "graded", [
            _task("mean", "passed"), _task("scale", "passed"), _task("cutoff", "passed")]))
    for i, bad in enumerate(["'abc'", "'x1'", "'hello world'", "'7'", "'q'"]):
        records.append(_record(f"v{i}", "partial", [
            _task("mean", "passed"),
            _task("scale", "error", f"its answer cell raised ValueError: could not convert "
                                    f"string to float: {bad}"),
            _task("cutoff", "passed")]))
    for i in range(4):
        records.append(_record(f"w{i}", "graded", [
            _task("mean", "passed"),
            _task("scale", "failed", "your answer gives different values than the reference "
                                     "solution on the grading data (values)"),
            _task("cutoff", "failed", f"its self-check failed: CUTOFF should be near 1.28, "
                                      f"got {0.5 + i / 10}")]))
    for i in range(2):
        records.append(_record(f"t{i}", "timeout", [
            _task("mean", "passed"),
            _task("scale", "timeout", "its answer cell was still running when the "
                                      "submission ran past its time limit"),
            _task("cutoff", "not-run", "not graded: the submission ran past its time limit "
                                       "before this task's check cell")],
            reason="1/3 tasks passed; the submission ran past its time limit (600 s)"))
    records.append(_record("k0", "killed", [
        _task("mean", "error", "its answer cell raised MemoryError: Unable to allocate "
                               "74.5 GiB for an array with shape (10000000000,)"),
        _task("scale", "passed"), _task("cutoff", "passed")],
        reason="2/3 tasks passed; a memory or process limit was reached"))
    records.append(_record("<script>alert('id')</script>", "invalid", [],
                           reason="not a notebook: the file is not valid JSON (line 1, "
                                  "column 1)"))
    records.append(_record("huge", "invalid", [], reason="the file is 80.0 MiB, over the "
                                                         "50 MiB limit"))
    records.append(_record("e0", "error", [
        _task("mean", "passed"),
        _task("scale", "error", "the kernel stopped while running its answer cell (os._exit,"
                                " a crash or a resource limit)"),
        _task("cutoff", "not-run", "not graded: the kernel stopped before this task's check "
                                   "cell")], reason="1/3 tasks passed; run stopped early"))
    for i in range(3):
        records.append(_record(f"n{i}", "not-implemented", [
            _task(t, "not-implemented", "not implemented (the stub still raises "
                                        "NotImplementedError)") for t in TASKS]))
    return records


def _write(folder):
    records = _class()
    for record in records:
        write_feedback(folder / "feedback", "90-fixture", record)
    return write_class_report(folder / "report.html", "90-fixture", TASKS, records,
                              pool_size=4, sandbox="bubblewrap",
                              warnings=["submission 'zed' has no roster entry"],
                              exports=[{"platform": "canvas",
                                        "path": str(folder / "canvas-grades.csv"), "rows": 29,
                                        "warnings": ["submission 'zed' has no roster entry"]}])


def test_normalised_reasons_group_what_differs_only_in_the_students_values():
    groups = failure_groups(_class(), TASKS)
    top = groups["scale"][0]
    assert (top["count"], top["state"]) == (5, "error")
    assert top["reason"] == ("its answer cell raised ValueError: could not convert string "
                             "to float: '…'")
    assert groups["cutoff"][0]["reason"] == "its self-check failed: CUTOFF should be near N, got N"
    assert groups["cutoff"][0]["count"] == 4
    assert [g["count"] for g in groups["scale"]] == sorted(
        (g["count"] for g in groups["scale"]), reverse=True)
    assert normalize_reason("its check cell ran past the per-cell time limit of 120 s") == \
        "its check cell ran past the per-cell time limit of 120 s"
    assert normalize_reason("its answer cell raised OSError: [Errno 2] No such file: "
                            "/home/ann/data.csv") == \
        "its answer cell raised OSError: [Errno N] No such file: <path>"


def test_report_shows_histogram_pass_rates_reasons_and_runs_to_look_at(tmp_path):
    page = _write(tmp_path).read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    # score histogram: 14 full marks, and what each bar holds, said in words too
    desc = re.search(r'<desc id="hist-desc">(.*?)</desc>', page).group(1)
    assert "6: 14" in desc and "0: 5" in desc and "4: 1" in desc
    # pass rate per task, over the 30 submissions that ran (the 2 invalid ones did not)
    assert "mean: 26 of 30 passed" in page and "87% (26/30)" in page
    assert "scale: 15 of 30 passed" in page and "50% (15/30)" in page
    # grouped reasons, with one example as it was
    assert "could not convert string to float: &#x27;…&#x27;" in page
    assert "as written: its answer cell raised ValueError" in page
    # runs to look at, each linked to its feedback file
    look = page[page.index('id="look"'):]
    order = [m.group(1) for m in re.finditer(r'<td class="status">([a-z-]+)</td>', look)]
    assert order == ["timeout", "timeout", "killed", "invalid", "invalid", "error"]
    assert f'href="feedback/{feedback_name("t0")}"' in look
    for sid in ("t0", "t1", "k0", "huge", "e0"):
        assert (tmp_path / "feedback" / feedback_name(sid)).is_file()
    assert "Warning: submission &#x27;zed&#x27; has no roster entry" in page


def test_report_is_self_contained_and_escapes_what_students_control(tmp_path):
    page = _write(tmp_path).read_text(encoding="utf-8")
    assert "<script" not in page and "&lt;script&gt;alert(&#x27;id&#x27;)&lt;/script&gt;" in page
    # no request of any kind: no external URL but the SVG namespace, no src attribute
    assert re.findall(r"https?://[^\"' <]+", page) == ["http://www.w3.org/2000/svg"] * 2
    assert " src=" not in page and "@import" not in page and "url(" not in page
    assert "default-src 'none'" in page


def test_report_is_the_same_for_the_same_records(tmp_path):
    first = _write(tmp_path / "a").read_bytes()
    assert _write(tmp_path / "b").read_bytes() == first


@pytest.mark.grading
def test_report_opens_in_chromium_without_errors_and_a_screenshot_is_kept(tmp_path):
    from _browser import axe_source, axe_violations, chromium, other_hosts, requested_urls, serve

    report = _write(tmp_path)
    with serve(tmp_path) as base, chromium(width=1100, height=900) as driver:
        driver.get(base + "report.html")
        assert driver.title == "Class report: 90-fixture"
        logs = driver.get_log("browser")
        assert [e for e in logs if e["level"] in ("SEVERE", "WARNING")] == [], logs
        urls = requested_urls(driver)
        assert other_hosts(urls, base) == []
        # the page asked for nothing at all: the only request over the network was it
        assert [u for u in urls if u.startswith(("http", "ws"))] == [base + "report.html"]
        svgs = driver.find_elements("css selector", "svg")
        assert len(svgs) == 2 and all(s.size["width"] > 300 for s in svgs)
        violations = axe_violations(driver, axe_source())
        assert [v for v in violations if v["impact"] in ("serious", "critical")] == [], \
            violations
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1100, min(int(height) + 120, 6000))
        shot = tmp_path / "report.png"
        driver.save_screenshot(str(shot))
        # the first feedback link opens the student's feedback
        link = driver.find_element("css selector", "#look ~ table a")
        link.click()
        assert driver.current_url == base + "feedback/" + feedback_name("t0")
        assert "Feedback: 90-fixture" in driver.find_element("tag name", "body").text
    assert shot.stat().st_size > 20_000
    keep = ROOT / "_build" / "screenshots"
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, keep / "grading-report.png")
    assert report.is_file()
