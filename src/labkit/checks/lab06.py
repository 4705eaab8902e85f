"""Public self-checks of Lab 06, *Privacy and bias*.

Each check tries the learner's answer on small cases worked out by hand first (the ones
the lab's instructions walk through, plus the cases that expose the usual slips), then
records what it gives on this run's data for the grader, then tests properties every
correct answer has on this run's data, comparing with labkit's references
(:mod:`labkit.privacy`) and with fairlearn. Failures say what is wrong in plain words;
they never print a value computed from this run's data.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import numbers
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import privacy
from ._core import (
    Example,
    as_number,
    call_answer,
    check_examples,
    decision,
    expect,
    expect_choice,
    expect_number,
    passed,
    record,
)

__all__ = ["constraint", "dictionary_attack", "epsilon", "k_anonymity", "laplace_count",
           "pseudonymize", "recall_by_group", "release_levels"]

# --- Task 1: pseudonymize -------------------------------------------------------------

_EXAMPLE_PHONE = "+99 555 00042"
_EXAMPLE_KEY = b"lab-06 example key"


def _hmac_hex(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _pseudonym_cases() -> list[tuple[str, bytes, str, dict[str, str]]]:
    """(phone, key, shown, {wrong digest: what probably went wrong})."""
    cases = []
    for phone, key, shown in (
            (_EXAMPLE_PHONE, _EXAMPLE_KEY,
             f'phone="{_EXAMPLE_PHONE}", key=b"lab-06 example key"'),
            ("what do ya want for nothing?", b"Jefe",
             'phone="what do ya want for nothing?", key=b"Jefe" (RFC 4231, test case 2)')):
        message = phone.encode("utf-8")
        cases.append((phone, key, shown, {
            hashlib.sha256(message).hexdigest():
                "that is the plain SHA-256 of the phone number: the key is ignored, so "
                "anyone can recompute it. Use HMAC with the key.",
            _hmac_hex(message, key):
                "the key and the message look swapped: hmac.new takes the key first and "
                "the message second.",
            hashlib.sha256(key + message).hexdigest():
                "that is SHA-256 of the key followed by the phone number, a home-made "
                "construction with known weaknesses; use HMAC (hmac.new).",
            hashlib.sha256(message + key).hexdigest():
                "that is SHA-256 of the phone number followed by the key, a home-made "
                "construction; use HMAC (hmac.new).",
        }))
    return cases


def _hex_digest(task: str, value: Any, where: str) -> str:
    if isinstance(value, (bytes, bytearray)):
        expect(False, task, f"{where} your function returned bytes; return the hex digest "
                            "(a str of 64 hex digits, .hexdigest()), not the raw digest.")
    expect(isinstance(value, str), task, f"{where} your function returned "
                                         f"{type(value).__name__}; return a str of 64 hex "
                                         "digits.")
    expect(len(value) == 64 and all(c in "0123456789abcdef" for c in value), task,
           f"{where} your function did not return 64 lower-case hex digits (SHA-256 gives "
           "32 bytes, 64 hex digits).")
    return value


def pseudonymize(func: Callable[..., Any], phones: Sequence[str], key: bytes) -> None:
    """Check ``pseudonymize(phone, key)``: HMAC-SHA256 of the phone number, as hex.

    Tries the worked example and RFC 4231's test case 2, records the pseudonyms of this
    run's users, then checks that they are distinct, repeatable, change with the key
    and agree with :func:`labkit.privacy.keyed_pseudonym`.

    Parameters
    ----------
    func : callable
        The learner's ``pseudonymize``.
    phones : sequence of str
        This run's phone numbers.
    key : bytes
        This run's secret key.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> def keyed(phone, key):
    ...     return hmac.new(key, phone.encode("utf-8"), hashlib.sha256).hexdigest()
    >>> pseudonymize(keyed, ["+99 555 00001", "+99 555 00002"], b"secret")
    [ok] pseudonymize: all checks passed
    """
    task = "pseudonymize"
    phones = _phones(task, phones)
    expect(isinstance(key, (bytes, bytearray)) and len(key) > 0, task,
           "give the check the run's secret key (non-empty bytes).")
    for phone, case_key, shown, slips in _pseudonym_cases():
        got = _hex_digest(task, call_answer(task, func, phone, case_key, _case=shown),
                          f"for {shown}")
        want = _hmac_hex(case_key, phone.encode("utf-8"))
        if got != want:
            expect(False, task, f"for {shown} the pseudonym starts with {want[:12]!r}, "
                                f"yours with {got[:12]!r}: "
                                + slips.get(got, "compute hmac.new(key, phone.encode('utf-8'), "
                                                 "hashlib.sha256).hexdigest()."))

    on_run = [call_answer(task, func, p, bytes(key)) for p in phones]
    record(task, pseudonyms=[str(v) for v in on_run])

    for value in on_run:
        _hex_digest(task, value, "on this run's phone numbers")
    expect(len(set(on_run)) == len(phones), task,
           "on this run's data two users got the same pseudonym; each phone number "
           "should give its own.")
    again = [call_answer(task, func, p, bytes(key)) for p in phones[:5]]
    expect(again == on_run[:5], task, "calling the function twice on the same number gave "
                                      "different pseudonyms; it must be deterministic.")
    other = bytes(b ^ 0x5A for b in key)
    changed = [call_answer(task, func, p, other) for p in phones[:5]]
    expect(all(a != b for a, b in zip(changed, on_run[:5], strict=True)), task,
           "changing the key did not change the pseudonym; without the key in the hash, "
           "anyone can recompute it.")
    reference = [privacy.keyed_pseudonym(p, bytes(key)) for p in phones]
    expect(on_run == reference, task, "on this run's data your pseudonyms differ from "
                                      "labkit.privacy.keyed_pseudonym (HMAC-SHA256).")
    passed(task)


def _phones(task: str, phones: Any) -> list[str]:
    values = list(phones.tolist() if hasattr(phones, "tolist") else phones)
    expect(len(values) > 0 and all(isinstance(p, str) for p in values), task,
           "give the check the run's phone numbers (a list or column of strings).")
    return values


# --- Task 2: dictionary_attack --------------------------------------------------------

_ATTACK_PREFIX = "+99 555 "
_ATTACK_DIGITS = 2


def _md5(phone: str) -> str:
    return hashlib.md5(phone.encode("utf-8")).hexdigest()


def _attack_cases() -> list[tuple[tuple[Any, ...], list[Any], str]]:
    """(args, wanted list, shown) of the attack's worked examples."""
    numbers = ["+99 555 42", "+99 555 07", "+1 202 555"]
    shown = ('published=[plain_hash("+99 555 42"), plain_hash("+99 555 07"), '
             'plain_hash("+1 202 555")], hash_fn=plain_hash, prefix="+99 555 ", n_digits=2')
    shown_md5 = shown.replace("plain_hash", "md5")
    return [
        (([privacy.plain_hash(n) for n in numbers], privacy.plain_hash, _ATTACK_PREFIX,
          _ATTACK_DIGITS), ["+99 555 42", "+99 555 07", None], shown),
        (([_md5(n) for n in numbers], _md5, _ATTACK_PREFIX, _ATTACK_DIGITS),
         ["+99 555 42", "+99 555 07", None], shown_md5),
        (([privacy.plain_hash("+99 555 00")], privacy.plain_hash, _ATTACK_PREFIX,
          _ATTACK_DIGITS), ["+99 555 00"], 'published=[plain_hash("+99 555 00")], '
                                           'hash_fn=plain_hash, prefix="+99 555 ", n_digits=2'),
    ]


def _attack_result(task: str, value: Any, n: int, where: str) -> list[Any]:
    expect(isinstance(value, (list, tuple, np.ndarray, pd.Series)), task,
           f"{where} your function returned {type(value).__name__}; return a list with "
           "one entry (a phone number or None) per published pseudonym.")
    values = list(value)
    expect(len(values) == n, task,
           f"{where} your function returned {len(values)} entries for {n} pseudonyms; "
           "return one entry per pseudonym, None where the attack finds nothing.")
    return values


def _call_attack(task: str, func: Callable[..., Any], args: tuple[Any, ...],
                 shown: str) -> Any:
    try:
        return func(*args)
    except KeyError:
        expect(False, task, f"for {shown} your function raised KeyError: a pseudonym that "
                            "no candidate number produces should give None (dict.get), "
                            "not an error.")
    except NotImplementedError:
        return call_answer(task, func, *args)
    except Exception:
        return call_answer(task, func, *args, _case=shown)


def dictionary_attack(func: Callable[..., Any], phones: Sequence[str], key: bytes,
                      prefix: str, n_digits: int) -> None:
    """Check ``dictionary_attack(published, hash_fn, prefix, n_digits)``.

    Tries the worked example (with SHA-256 and with MD5, and a number with leading
    zeros), then attacks this run's plain-hash release (every user must be recovered,
    correctly) and its keyed release without the key (nobody may be recovered), and
    records the shares recovered.

    Parameters
    ----------
    func : callable
        The learner's ``dictionary_attack``.
    phones : sequence of str
        This run's phone numbers (the truth the attack should recover).
    key : bytes
        This run's secret key (used only to build the keyed release).
    prefix : str
        The operator prefix of every number.
    n_digits : int
        The free digits after it.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> def attack(published, hash_fn, prefix, n_digits):
    ...     table = {hash_fn(f"{prefix}{i:0{n_digits}d}"): f"{prefix}{i:0{n_digits}d}"
    ...              for i in range(10 ** n_digits)}
    ...     return [table.get(h) for h in published]
    >>> dictionary_attack(attack, ["+1 07", "+1 93"], b"k", "+1 ", 2)
    [ok] dictionary_attack: all checks passed
    """
    task = "dictionary_attack"
    phones = _phones(task, phones)
    expect(isinstance(key, (bytes, bytearray)) and len(key) > 0, task,
           "give the check the run's secret key (non-empty bytes).")
    expect(isinstance(prefix, str) and isinstance(n_digits, int) and 1 <= n_digits <= 7,
           task, "give the check the prefix (a str) and the number of free digits (1 to 7).")

    for args, want, shown in _attack_cases():
        got = _attack_result(task, _call_attack(task, func, args, shown), len(want),
                             f"for {shown}")
        if got == want:
            continue
        if shown.endswith("n_digits=2") and got[:2] == [want[0], None] and len(want) == 3:
            why = ("the number with a leading zero was not found: pad every candidate to "
                   "exactly n_digits digits (f\"{i:0{n_digits}d}\").")
        elif got == [None] and want == ["+99 555 00"]:
            why = ("the number made of zeros only was not found: candidates run from 0 to "
                   "10 ** n_digits - 1, each padded to n_digits digits.")
        elif "md5" in shown and all(g is None for g in got):
            why = ("nothing was found with the MD5 hash function: hash the candidates with "
                   "the hash_fn you are given, not a fixed one.")
        else:
            why = ("hash every candidate number with hash_fn, keep a dict from hash to "
                   "number, and look each published pseudonym up in it.")
        expect(False, task, f"for {shown} the answer is {want}, your function returned "
                            f"{got}: {why}")

    plain = [privacy.plain_hash(p) for p in phones]
    keyed = [privacy.keyed_pseudonym(p, bytes(key)) for p in phones]
    from_plain = _attack_result(task, call_answer(task, func, plain, privacy.plain_hash,
                                                  prefix, n_digits),
                                len(phones), "on this run's plain-hash release")
    from_keyed = _attack_result(task, call_answer(task, func, keyed, privacy.plain_hash,
                                                  prefix, n_digits),
                                len(phones), "on this run's keyed release")
    share_plain = float(np.mean([r == p for r, p in zip(from_plain, phones, strict=True)]))
    share_keyed = float(np.mean([r is not None for r in from_keyed]))
    record(task, recovered_plain=share_plain, recovered_keyed=share_keyed)

    expect(share_plain == 1.0, task,
           "on this run's plain-hash release your attack did not recover every phone "
           "number; every number behind the prefix is a candidate, zero-padded to "
           "n_digits digits.")
    expect(share_keyed == 0.0, task,
           "on this run's keyed release your attack 'recovered' numbers without the key; "
           "with hash_fn=plain_hash no candidate should match an HMAC pseudonym.")
    passed(task)


# --- Task 3: k_anonymity --------------------------------------------------------------

_KA_TABLE = pd.DataFrame({
    "age": ["18-34"] * 4 + ["35-64"] * 2 + [None],
    "region": ["north"] * 7,
})
_KA_SHOWN = ("age=[18-34 x4, 35-64 x2, missing x1], region=[north x7], "
             "quasi_identifiers=['age', 'region']")
_KA_CATEGORICAL = pd.DataFrame({
    "age": pd.Categorical(["18-34", "18-34", "18-34", "35-64", "35-64"],
                          categories=["18-34", "35-64", "65+"]),
    "region": pd.Categorical(["north", "north", "north", "south", "south"],
                             categories=["north", "south", "islands"]),
})
_KA_CAT_SHOWN = ("categorical columns age=[18-34 x3, 35-64 x2], region=[north x3, "
                 "south x2] with unused categories ('65+', 'islands')")

K_EXAMPLES = (
    Example((_KA_TABLE, ["age", "region"]), 1, _KA_SHOWN, slips={
        2: "the row with the missing age was dropped, as groupby does by default; a "
           "missing value is a value the attacker sees too (dropna=False).",
        4: "that is the largest group: k is the size of the smallest one.",
        3: "that is the number of groups: k is the size of the smallest one.",
        7 / 3: "that is the mean group size: k is the size of the smallest one.",
    }),
    Example((_KA_TABLE.iloc[:6], ["age", "region"]), 2,
            "the same table without its last row (no missing value)"),
    Example((_KA_TABLE, ["region"]), 7, "the same table, quasi_identifiers=['region']"),
    Example((_KA_CATEGORICAL, ["age", "region"]), 2, _KA_CAT_SHOWN, slips={
        0: "combinations that never occur were counted as groups of size 0: with "
           "categorical columns pass observed=True to groupby.",
    }),
)


def _lattice(hierarchies: Mapping[str, Sequence[Any]]) -> list[dict[str, int]]:
    import itertools

    columns = list(hierarchies)
    ranges = [range(len(hierarchies[c]) + 1) for c in columns]
    return [dict(zip(columns, levels, strict=True)) for levels in itertools.product(*ranges)]


def _levels_key(levels: Mapping[str, int]) -> str:
    return ",".join(f"{c}={int(v)}" for c, v in levels.items())


def _profile(task: str, profile: Any, hierarchies: Any) -> pd.DataFrame:
    expect(isinstance(profile, pd.DataFrame) and len(profile) > 0, task,
           "give the check the run's profile table (a non-empty DataFrame).")
    expect(isinstance(hierarchies, Mapping) and len(hierarchies) > 0
           and all(c in profile.columns for c in hierarchies), task,
           "give the check the HIERARCHIES dict, keyed by columns of the profile.")
    return profile


def k_anonymity(func: Callable[..., Any], profile: pd.DataFrame,
                hierarchies: Mapping[str, Sequence[Any]]) -> None:
    """Check ``k_anonymity(table, quasi_identifiers)``.

    Tries the worked example (a missing value forms its own class), a categorical
    table with unused categories and two variants, records k for every generalization
    of this run's profile, and checks that each agrees with
    :func:`labkit.privacy.k_anonymity`.

    Parameters
    ----------
    func : callable
        The learner's ``k_anonymity``.
    profile : pandas.DataFrame
        This run's quasi-identifiers, one row per user.
    hierarchies : mapping
        The generalization hierarchies (the lab's ``HIERARCHIES``).

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> def smallest(table, quasi_identifiers):
    ...     sizes = table.groupby(quasi_identifiers, dropna=False, observed=True).size()
    ...     return int(sizes.min())
    >>> table = pd.DataFrame({"a": ["x", "x", "y", "y"], "b": ["u", "u", "v", "v"]})
    >>> k_anonymity(smallest, table, {"a": ["*"], "b": ["*"]})
    [ok] k_anonymity: all checks passed
    """
    task = "k_anonymity"
    profile = _profile(task, profile, hierarchies)
    columns = list(hierarchies)
    check_examples(task, func, K_EXAMPLES)

    nodes = _lattice(hierarchies)
    tables = [privacy.generalize(profile, hierarchies, levels) for levels in nodes]
    on_run = [call_answer(task, func, table.copy(), list(columns)) for table in tables]
    record(task, levels=[_levels_key(n) for n in nodes],
           k=[float(expect_number(task, v)) for v in on_run])

    for levels, table, got in zip(nodes, tables, on_run, strict=True):
        expect(isinstance(got, (int, np.integer)) and not isinstance(got, bool), task,
               f"return k as an int, got {type(got).__name__}.")
        expect(int(got) == privacy.k_anonymity(table, columns), task,
               f"on this run's profile generalized to levels {dict(levels)} your k differs "
               "from labkit.privacy.k_anonymity.")
    passed(task)


# --- Task 4: release_levels (decision) ------------------------------------------------


def release_levels(levels: Any, profile: pd.DataFrame,
                   hierarchies: Mapping[str, Sequence[Any]], k_target: int) -> None:
    """Check the decision ``RELEASE_LEVELS``: the k-anonymous release with the most detail.

    Among all generalizations of this run's profile whose k (computed with
    :func:`labkit.privacy.k_anonymity`) reaches ``k_target``, the accepted ones keep
    the most equivalence classes (ties are all accepted).

    Parameters
    ----------
    levels : dict
        The learner's ``RELEASE_LEVELS``: column name -> level.
    profile : pandas.DataFrame
        This run's quasi-identifiers.
    hierarchies : mapping
        The lab's ``HIERARCHIES``.
    k_target : int
        The required k.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> table = pd.DataFrame({"a": list("xxxyyy"), "b": list("uvwuvw")})
    >>> release_levels({"a": 0, "b": 1}, table, {"a": ["*"], "b": ["*"]}, 3)
    [ok] release_levels: all checks passed
    """
    task = "release_levels"
    profile = _profile(task, profile, hierarchies)
    expect(isinstance(k_target, (int, np.integer)) and k_target >= 1, task,
           "give the check the target k (a positive int).")
    expect(isinstance(levels, Mapping), task,
           f"set RELEASE_LEVELS to a dict from column name to level, got "
           f"{type(levels).__name__}.")
    expect(set(levels) == set(hierarchies), task,
           f"RELEASE_LEVELS needs one level for each of {list(hierarchies)}.")
    for column, steps in hierarchies.items():
        value = levels[column]
        expect(isinstance(value, (int, np.integer)) and not isinstance(value, bool)
               and 0 <= value <= len(steps), task,
               f"the level of {column!r} must be an int from 0 to {len(steps)}.")
    chosen = {c: int(levels[c]) for c in hierarchies}

    options = []
    for node in _lattice(hierarchies):
        table = privacy.generalize(profile, hierarchies, node)
        sizes = privacy.equivalence_class_sizes(table, list(hierarchies))
        options.append((node, int(sizes.min()), len(sizes)))
    safe = [(node, classes) for node, k, classes in options if k >= k_target]
    expect(len(safe) > 0, task, "no generalization reaches the target k.")
    most = max(classes for _, classes in safe)
    accepted = [_levels_key(node) for node, classes in safe if classes == most]
    record(task, release=decision(_levels_key(chosen), accepted=accepted))

    k_chosen, classes_chosen = next((k, c) for node, k, c in options if node == chosen)
    expect(k_chosen >= k_target, task,
           f"the release at your levels is not {k_target}-anonymous: some combination of "
           f"values is shared by fewer than {k_target} users. Keep only the releases that "
           "reach the target k.")
    expect(classes_chosen == most, task,
           f"another generalization also reaches k >= {k_target} and keeps more "
           "equivalence classes (more detail). Among the safe releases, take the one with "
           "the most classes, not the largest k.")
    passed(task)


# --- Task 5: laplace_count ------------------------------------------------------------

#: The epsilons at which the noise distribution is tested.
TEST_EPSILONS = (0.1, 0.5, 2.0)
_N_DRAWS = 20_000
_KS_ALPHA = 1e-3


def _noise(task: str, func: Callable[..., Any], counts: np.ndarray, eps: float,
           seed: int) -> np.ndarray:
    got = call_answer(task, func, counts.copy(), eps, np.random.default_rng(seed))
    try:
        arr = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        expect(False, task, f"the function returned {type(got).__name__}; return the noisy "
                            "counts as numbers (an array shaped like count).")
    expect(arr.shape == counts.shape, task,
           f"for {counts.size} counts the function returned shape {arr.shape}; return one "
           "noisy value per count, shaped like count.")
    expect(bool(np.all(np.isfinite(arr))), task, "the noisy counts contain NaN or inf.")
    return arr - counts


def laplace_count(func: Callable[..., Any], true_counts: Any, epsilons: Sequence[float]
                  ) -> None:
    """Check ``laplace_count(count, epsilon, rng)``: Laplace noise of scale 1/epsilon.

    Tests shape, that the input is left alone, that the noise comes from the given
    generator (a seeded generator repeats it) with one independent draw per count,
    then compares the noise around this run's counts with
    :data:`scipy.stats.laplace` (scale ``1/epsilon``) by a Kolmogorov-Smirnov test at
    several epsilons, and records whether each test passed.

    Parameters
    ----------
    func : callable
        The learner's ``laplace_count``.
    true_counts : array-like
        This run's true counts per region.
    epsilons : sequence of float
        The lab's grid of epsilons (the tested ones must be in range).

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> def noisy(count, epsilon, rng):
    ...     count = np.asarray(count, dtype=float)
    ...     return count + rng.laplace(0.0, 1.0 / epsilon, size=count.shape)
    >>> laplace_count(noisy, [90, 24], [0.1, 0.5, 2.0])
    [ok] laplace_count: all checks passed
    """
    from scipy import stats

    task = "laplace_count"
    try:
        counts = np.asarray(true_counts, dtype=float)
    except (TypeError, ValueError):
        counts = np.array([])
    expect(counts.ndim == 1 and counts.size > 0 and bool(np.all(np.isfinite(counts))), task,
           "give the check the run's true counts (a one-dimensional array or Series).")
    expect(len(epsilons) > 0 and all(e > 0 for e in epsilons), task,
           "give the check the lab's EPSILONS (positive numbers).")

    one = call_answer(task, func, 10.0, 1.0, np.random.default_rng(0), _case="count=10.0")
    expect(np.ndim(one) == 0 and math.isfinite(float(np.asarray(one))), task,
           "for a single count the function should return a single number.")
    small = np.array([5.0, 7.0, 11.0])
    kept = small.copy()
    call_answer(task, func, small, 1.0, np.random.default_rng(0), _case="count=[5, 7, 11]")
    expect(np.array_equal(small, kept), task, "the function changed the counts it was given; "
                                              "return a new array instead.")
    first = _noise(task, func, np.zeros(1000), 1.0, 11)
    second = _noise(task, func, np.zeros(1000), 1.0, 11)
    expect(np.array_equal(first, second), task,
           "two calls with identically seeded generators gave different noise: draw the "
           "noise from the rng you are given, not from np.random.")
    expect(len(np.unique(first)) >= 10, task,
           "for 1000 counts the noise values are all equal (or nearly): draw one "
           "independent value per count (size=np.shape(count)), not one value shared by "
           "all.")

    tiled = np.tile(counts, _N_DRAWS // counts.size + 1)[:_N_DRAWS]
    ks_ok = []
    for i, eps in enumerate(TEST_EPSILONS):
        noise = _noise(task, func, tiled, eps, 100 + i)
        ks_ok.append(bool(stats.kstest(noise, stats.laplace(scale=1 / eps).cdf).pvalue
                          >= _KS_ALPHA))
    record(task, epsilons=list(TEST_EPSILONS), laplace_ok=ks_ok)

    for i, (eps, ok) in enumerate(zip(TEST_EPSILONS, ks_ok, strict=True)):
        if ok:
            continue
        noise = _noise(task, func, tiled, eps, 100 + i)
        if stats.kstest(noise, stats.laplace(scale=eps).cdf).pvalue >= _KS_ALPHA:
            why = "its scale looks like epsilon: the scale is sensitivity / epsilon = 1 / epsilon."
        elif stats.kstest(noise, stats.norm(scale=1 / eps).cdf).pvalue >= _KS_ALPHA:
            why = "it looks Gaussian: draw from the Laplace distribution (rng.laplace)."
        elif abs(float(np.median(noise))) > 0.2 / eps:
            why = "it is not centred on the true count: the noise has location 0."
        else:
            why = ("draw it with rng.laplace(0, 1 / epsilon, size=...) and return it "
                   "unrounded.")
        expect(False, task, f"at epsilon={eps:g} your noise does not follow a Laplace "
                            f"distribution with scale 1/epsilon (Kolmogorov-Smirnov test "
                            f"against scipy.stats.laplace): {why}")
    passed(task)


# --- Task 6: epsilon (decision) -------------------------------------------------------

#: Coverage within this of the target is a close call (about 3 standard errors of an
#: estimate from 2000 simulated releases): both neighbouring answers are accepted.
COVERAGE_TOLERANCE = 0.015


def epsilon(value: Any, true_counts: Any, epsilons: Sequence[float], relative_bound: float,
            coverage: float) -> None:
    """Check the decision ``EPSILON``: the smallest epsilon meeting the error requirement.

    The requirement: every count is within ``relative_bound`` of its true value with
    probability at least ``coverage``, i.e. ``1 - exp(-epsilon * relative_bound * c)
    >= coverage`` for the smallest count ``c``. Accepted: the smallest epsilon of the
    grid that meets it, and its neighbours when the coverage is within
    :data:`COVERAGE_TOLERANCE` of the target (a simulation could not tell them apart).

    Parameters
    ----------
    value : float
        The learner's ``EPSILON``.
    true_counts : array-like
        This run's true counts.
    epsilons : sequence of float
        The grid the value must come from.
    relative_bound, coverage : float
        The requirement.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> epsilon(1.2, [100, 30], [0.5, 0.8, 1.0, 1.2, 1.5], 0.1, 0.95)
    [ok] epsilon: all checks passed
    """
    task = "epsilon"
    try:
        counts = np.asarray(true_counts, dtype=float)
    except (TypeError, ValueError):
        counts = np.array([])
    expect(counts.ndim == 1 and counts.size > 0 and bool(np.all(counts > 0)), task,
           "give the check the run's true counts (positive numbers).")
    grid = sorted(float(e) for e in epsilons)
    expect(len(grid) > 0 and grid[0] > 0, task, "give the check the lab's EPSILONS.")
    expect(isinstance(value, numbers.Real) and not isinstance(value, bool), task,
           f"set EPSILON to a number from EPSILONS, got {type(value).__name__}.")
    eps = expect_number(task, value)
    expect(any(math.isclose(eps, e) for e in grid), task,
           "set EPSILON to one of the values in EPSILONS.")

    bound = relative_bound * counts
    worst = [float(np.min(privacy.laplace_coverage(e, bound))) for e in grid]
    low = next((e for e, w in zip(grid, worst, strict=True)
                if w >= coverage - COVERAGE_TOLERANCE), grid[-1])
    high = next((e for e, w in zip(grid, worst, strict=True)
                 if w >= coverage + COVERAGE_TOLERANCE), grid[-1])
    accepted = [e for e in grid if low <= e <= high]
    record(task, epsilon=decision(eps, accepted=accepted))

    at_value = float(np.min(privacy.laplace_coverage(eps, bound)))
    expect(at_value >= coverage - COVERAGE_TOLERANCE, task,
           "at your epsilon at least one region's count misses the allowed error more often "
           "than the requirement permits. Every count must meet it, so the smallest count "
           "decides (take the minimum over regions, not the mean).")
    expect(eps <= high + 1e-12, task,
           "a smaller epsilon in EPSILONS already meets the requirement for every count: "
           "you are spending more privacy than needed.")
    passed(task)


# --- Task 7: recall_by_group ----------------------------------------------------------

_RG_TRUE = np.array([1, 1, 1, 0, 1, 0, 0, 0])
_RG_PRED = np.array([1, 0, 0, 1, 1, 1, 1, 0])
_RG_GROUPS = np.array(["a", "a", "a", "a", "b", "b", "c", "c"])
_RG_SHOWN = ("y_true=[1, 1, 1, 0, 1, 0, 0, 0], y_pred=[1, 0, 0, 1, 1, 1, 1, 0], "
             "groups=['a', 'a', 'a', 'a', 'b', 'b', 'c', 'c']")
_RG_WANT = {"a": 1 / 3, "b": 1.0, "c": math.nan}
_RG_SLIPS = (
    ({"a": 0.25, "b": 0.5, "c": 0.0},
     "that divides the caught positives by the group's size; recall divides them by the "
     "group's positive cases."),
    ({"a": 0.5, "b": 0.5, "c": 0.0},
     "that is precision (caught positives over flagged cases); recall divides by the "
     "group's positive cases."),
    ({"a": 1 / 3, "b": 1.0, "c": 0.0},
     "a group without positive cases has no recall: give it NaN, not 0."),
)


def _as_recalls(task: str, value: Any, where: str) -> dict[str, float]:
    if isinstance(value, pd.Series):
        value = value.to_dict()
    expect(isinstance(value, Mapping), task,
           f"{where} your function returned {type(value).__name__}; return a dict from "
           "group name to recall.")
    out = {}
    for group, recall in value.items():
        number = as_number(recall)
        is_nan = isinstance(recall, (float, np.floating)) and math.isnan(recall)
        expect(is_nan or not math.isnan(number), task,
               f"{where} the recall of group {str(group)!r} is {type(recall).__name__} "
               f"{str(recall)[:40]}; each recall should be a number (NaN for a group without "
               "positive cases).")
        out[str(group)] = number
    return out


def _same_recalls(got: Mapping[str, float], want: Mapping[str, float]) -> bool:
    if set(got) != set(want):
        return False
    return all((math.isnan(want[g]) and math.isnan(got[g]))
               or (not math.isnan(got[g]) and math.isclose(got[g], want[g], abs_tol=1e-12))
               for g in want)


def recall_by_group(func: Callable[..., Any], y_true: Any, y_pred: Any, groups: Any) -> None:
    """Check ``recall_by_group(y_true, y_pred, groups)``: recall within each group.

    Tries the worked example (with a group without positives), records the recalls on
    this run's test set, and compares them with fairlearn's
    :class:`~fairlearn.metrics.MetricFrame` over :func:`sklearn.metrics.recall_score`.

    Parameters
    ----------
    func : callable
        The learner's ``recall_by_group``.
    y_true, y_pred : array-like of 0/1
        This run's test labels and decisions.
    groups : array-like of str
        Each case's group.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> def by_group(y_true, y_pred, groups):
    ...     y_true, y_pred, groups = map(np.asarray, (y_true, y_pred, groups))
    ...     return {str(g): (y_pred[(groups == g) & (y_true == 1)].mean()
    ...                      if ((groups == g) & (y_true == 1)).any() else float("nan"))
    ...             for g in np.unique(groups)}
    >>> recall_by_group(by_group, [1, 0, 1, 1], [1, 1, 0, 1], ["x", "x", "y", "y"])
    [ok] recall_by_group: all checks passed
    """
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import recall_score

    task = "recall_by_group"
    y = np.asarray(y_true)
    p = np.asarray(y_pred)
    g = np.asarray(groups).astype(str)
    expect(y.ndim == 1 and y.shape == p.shape == g.shape and y.size > 0, task,
           "give the check the test labels, the decisions and the groups (three "
           "one-dimensional arrays of equal length).")
    expect(set(np.unique(y).tolist()) <= {0, 1} and set(np.unique(p).tolist()) <= {0, 1},
           task, "the labels and the decisions must be 0 and 1.")

    got = _as_recalls(task, call_answer(task, func, _RG_TRUE.copy(), _RG_PRED.copy(),
                                        _RG_GROUPS.copy(), _case=_RG_SHOWN),
                      f"for {_RG_SHOWN}")
    if not _same_recalls(got, _RG_WANT):
        why = next((msg for wrong, msg in _RG_SLIPS if _same_recalls(got, wrong)),
                   "for each group, take its cases with y_true == 1 and return the share of "
                   "them with y_pred == 1.")
        expect(False, task, f"for {_RG_SHOWN} the answer is {{'a': 1/3, 'b': 1.0, 'c': nan}}, "
                            f"your function returned {got}: {why}")

    on_run = _as_recalls(task, call_answer(task, func, y.copy(), p.copy(), g.copy()),
                         "on this run's data")
    record(task, recall=on_run)

    expect(set(on_run) == set(np.unique(g).tolist()), task,
           "on this run's data the dict should have exactly one entry per group.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # recall_score warns on a group without positives
        frame = MetricFrame(metrics=recall_score, y_true=y, y_pred=p, sensitive_features=g)
    for group, reference in frame.by_group.items():
        if not np.any(y[g == group] == 1):
            continue
        expect(math.isclose(on_run[str(group)], float(reference), abs_tol=1e-12), task,
               f"on this run's data your recall of group {group!r} differs from "
               "fairlearn's MetricFrame with recall_score.")
    passed(task)


# --- Task 8: constraint (decision) ----------------------------------------------------

#: The fairlearn constraints the lab offers, and what each would mean here.
CONSTRAINTS = {
    "demographic_parity": "demographic parity flags every region at the same rate; "
                          "islanders open social apps and games less often, so it would "
                          "pre-load for them as often as for everyone else, needed or not. "
                          "The goal is about the users who are about to open one.",
    "true_positive_rate_parity": "",
    "false_positive_rate_parity": "false positive rate parity equalises useless pre-loads; "
                                  "it says nothing about the users who are about to open a "
                                  "social app or a game.",
    "equalized_odds": "equalized odds asks for equal recall and also equal false positive "
                      "rates: more than the goal, and it costs more.",
}


def constraint(value: Any) -> None:
    """Check the decision ``CONSTRAINT``: the fairlearn constraint for equal recall.

    Parameters
    ----------
    value : str
        One of :data:`CONSTRAINTS`.

    Raises
    ------
    AssertionError
        Saying in plain words what is wrong.

    Examples
    --------
    >>> constraint("true_positive_rate_parity")
    [ok] constraint: all checks passed
    """
    task = "constraint"
    answer = expect_choice(task, value, list(CONSTRAINTS))
    record(task, constraint=decision(answer, accepted=["true_positive_rate_parity"]))
    expect(answer == "true_positive_rate_parity", task, CONSTRAINTS[answer])
    passed(task)
