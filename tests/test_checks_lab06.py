"""Tests of labkit.checks.lab06: the checks pass correct answers and catch plausible slips.

The reference answers below are test oracles written independently of the solution
notebook. Every slip named in course.yml for lab 06 has a counterpart here, plus others
a learner could plausibly make; each must fail with a message that says what went wrong.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest

from labkit import privacy
from labkit.checks import RESULTS_ENV, lab06
from labkit.datasets import make_nextapp

PREFIX, DIGITS = "+99 555 ", 3

HIERARCHIES = {
    "age_band": [{"18-24": "18-34", "25-34": "18-34", "35-49": "35-64", "50-64": "35-64",
                  "65+": "65+"}, privacy.SUPPRESSED],
    "occupation": [{"office": "work", "field": "work", "student": "other",
                    "retired": "other", "other": "other"}, privacy.SUPPRESSED],
    "region": [{"north": "mainland", "south": "mainland", "east": "mainland",
                "west": "mainland", "islands": "islands"}, privacy.SUPPRESSED],
}

# ---------------------------------------------------------------- reference answers


def ref_pseudonymize(phone, key):
    return hmac.new(key, phone.encode("utf-8"), hashlib.sha256).hexdigest()


def ref_attack(published, hash_fn, prefix, n_digits):
    table = {}
    for i in range(10 ** n_digits):
        number = prefix + str(i).zfill(n_digits)
        table[hash_fn(number)] = number
    return [table.get(h) for h in published]


def ref_k(table, quasi_identifiers):
    keys = [tuple("<missing>" if pd.isna(v) else v for v in row)
            for row in table[list(quasi_identifiers)].itertuples(index=False)]
    counts = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return min(counts.values())


def ref_laplace(count, epsilon, rng):
    count = np.asarray(count, dtype=float)
    return count + rng.laplace(0.0, 1.0 / epsilon, size=count.shape)


def ref_laplace_by_exponentials(count, epsilon, rng):
    """A correct mechanism that draws differently: the difference of two exponentials."""
    count = np.asarray(count, dtype=float)
    scale = 1.0 / epsilon
    return count + rng.exponential(scale, count.shape) - rng.exponential(scale, count.shape)


def ref_recall(y_true, y_pred, groups):
    out = {}
    for g in sorted(set(np.asarray(groups).tolist())):
        idx = [i for i, gi in enumerate(groups) if gi == g and y_true[i] == 1]
        out[g] = sum(y_pred[i] for i in idx) / len(idx) if idx else float("nan")
    return out


def not_implemented(*args):
    raise NotImplementedError("write it")


# ---------------------------------------------------------------- run data


@pytest.fixture(scope="module")
def log():
    return make_nextapp(n_users=250, n_days=2, random_state=3)


@pytest.fixture(scope="module")
def phones():
    return privacy.synthetic_phone_numbers(200, prefix=PREFIX, n_digits=DIGITS,
                                           random_state=5)


KEY = b"a secret key for the tests only"


@pytest.fixture(scope="module")
def profile(log):
    return log.users[list(HIERARCHIES)].astype(object)


@pytest.fixture
def counts():
    return pd.Series([94, 72, 79, 97, 26], index=["north", "south", "east", "west", "islands"])


@pytest.fixture(scope="module")
def recall_run():
    rng = np.random.default_rng(2)
    groups = rng.choice(["north", "south", "islands"], size=600, p=[0.5, 0.44, 0.06])
    y = rng.integers(0, 2, 600)
    p = (rng.random(600) < np.where(y == 1, 0.7, 0.2)).astype(int)
    return y, p, groups


def best_levels(profile, k_target):
    options = []
    for levels in itertools.product(range(3), repeat=3):
        levels = dict(zip(HIERARCHIES, levels, strict=True))
        released = privacy.generalize(profile, HIERARCHIES, levels)
        options.append((levels, ref_k(released, list(HIERARCHIES)),
                        len(released.drop_duplicates())))
    safe = [o for o in options if o[1] >= k_target]
    most = max(o[2] for o in safe)
    return [o[0] for o in safe if o[2] == most], options


def smallest_epsilon(counts, grid, bound=0.1, coverage=0.95):
    allowed = bound * np.asarray(counts, dtype=float)
    return min(e for e in grid if (1 - np.exp(-e * allowed)).min() >= coverage)


GRID = [round(0.1 * i, 1) for i in range(1, 51)]

# ---------------------------------------------------------------- pseudonymize


def test_pseudonymize_passes_reference(phones, capsys):
    lab06.pseudonymize(ref_pseudonymize, phones, KEY)
    assert "[ok] pseudonymize" in capsys.readouterr().out


@pytest.mark.parametrize(("wrong", "words"), [
    (lambda phone, key: hashlib.sha256(phone.encode()).hexdigest(), "key is ignored"),
    (lambda phone, key: hmac.new(phone.encode(), key, hashlib.sha256).hexdigest(), "swapped"),
    (lambda phone, key: hashlib.sha256(key + phone.encode()).hexdigest(), "home-made"),
    (lambda phone, key: hashlib.sha256(phone.encode() + key).hexdigest(), "home-made"),
    (lambda phone, key: hmac.new(key, phone.encode(), hashlib.sha256).digest(), "bytes"),
    (lambda phone, key: hmac.new(key, phone.encode(), hashlib.md5).hexdigest(), "64"),
    (lambda phone, key: hmac.new(key, phone.encode(), hashlib.sha1).hexdigest(), "64"),
    (lambda phone, key: hmac.new(key, phone.encode(), hashlib.sha256).hexdigest().upper(),
     "lower-case"),
])
def test_pseudonymize_catches_slips(phones, wrong, words):
    with pytest.raises(AssertionError) as info:
        lab06.pseudonymize(wrong, phones, KEY)
    message = str(info.value)
    assert message.startswith("pseudonymize:") and words in message
    assert KEY.decode() not in message


def test_pseudonymize_catches_a_slip_only_visible_on_run_data(phones):
    def constant_for_long_keys(phone, key):
        return ref_pseudonymize(phone, key if len(key) < 20 else b"fixed")

    with pytest.raises(AssertionError, match="changing the key"):
        lab06.pseudonymize(constant_for_long_keys, phones, KEY)


def test_pseudonymize_rejects_bad_run_data():
    with pytest.raises(AssertionError, match="phone numbers"):
        lab06.pseudonymize(ref_pseudonymize, [5550042], KEY)
    with pytest.raises(AssertionError, match="secret key"):
        lab06.pseudonymize(ref_pseudonymize, ["+1"], "key")


# ---------------------------------------------------------------- dictionary_attack


def test_attack_passes_reference(phones, capsys):
    lab06.dictionary_attack(ref_attack, phones, KEY, PREFIX, DIGITS)
    assert "[ok] dictionary_attack" in capsys.readouterr().out


def attack_unpadded(published, hash_fn, prefix, n_digits):
    table = {hash_fn(f"{prefix}{i}"): f"{prefix}{i}" for i in range(10 ** n_digits)}
    return [table.get(h) for h in published]


def attack_keyerror(published, hash_fn, prefix, n_digits):
    table = {hash_fn(f"{prefix}{i:0{n_digits}d}"): f"{prefix}{i:0{n_digits}d}"
             for i in range(10 ** n_digits)}
    return [table[h] for h in published]


def attack_fixed_hash(published, hash_fn, prefix, n_digits):
    return ref_attack(published, privacy.plain_hash, prefix, n_digits)


def attack_found_only(published, hash_fn, prefix, n_digits):
    return [r for r in ref_attack(published, hash_fn, prefix, n_digits) if r is not None]


def attack_one_short(published, hash_fn, prefix, n_digits):
    table = {}
    for i in range(1, 10 ** n_digits):
        number = f"{prefix}{i:0{n_digits}d}"
        table[hash_fn(number)] = number
    return [table.get(h) for h in published]


def attack_as_dict(published, hash_fn, prefix, n_digits):
    return dict(zip(published, ref_attack(published, hash_fn, prefix, n_digits), strict=True))


@pytest.mark.parametrize(("wrong", "words"), [
    (attack_unpadded, "leading zero"),
    (attack_keyerror, "KeyError"),
    (attack_fixed_hash, "hash_fn you are given"),
    (attack_found_only, "one entry per pseudonym"),
    (attack_one_short, "zeros only"),
    (attack_as_dict, "return a list"),
])
def test_attack_catches_slips(phones, wrong, words):
    with pytest.raises(AssertionError) as info:
        lab06.dictionary_attack(wrong, phones, KEY, PREFIX, DIGITS)
    message = str(info.value)
    assert message.startswith("dictionary_attack:") and words in message
    assert not any(p in message for p in phones)


def test_attack_catches_slips_only_visible_on_run_data(phones):
    def small_space_only(published, hash_fn, prefix, n_digits):
        return ref_attack(published, hash_fn, prefix, min(n_digits, 2))

    with pytest.raises(AssertionError, match="did not recover every"):
        lab06.dictionary_attack(small_space_only, phones, KEY, PREFIX, DIGITS)

    def knows_the_key(published, hash_fn, prefix, n_digits):
        return ref_attack(published, lambda p: ref_pseudonymize(p, KEY), prefix, n_digits)

    with pytest.raises(AssertionError):
        lab06.dictionary_attack(knows_the_key, phones, KEY, PREFIX, DIGITS)


def test_attack_stub_and_bad_run_data(phones):
    with pytest.raises(AssertionError, match="not implemented yet"):
        lab06.dictionary_attack(not_implemented, phones, KEY, PREFIX, DIGITS)
    with pytest.raises(AssertionError, match="free digits"):
        lab06.dictionary_attack(ref_attack, phones, KEY, PREFIX, "3")


# ---------------------------------------------------------------- k_anonymity


def test_k_anonymity_passes_reference(profile, capsys):
    lab06.k_anonymity(ref_k, profile, HIERARCHIES)
    assert "[ok] k_anonymity" in capsys.readouterr().out


def test_k_anonymity_accepts_pandas_groupby(profile, capsys):
    def grouped(table, qi):
        return int(table.groupby(qi, dropna=False, observed=True).size().min())

    lab06.k_anonymity(grouped, profile, HIERARCHIES)
    assert "[ok]" in capsys.readouterr().out


@pytest.mark.parametrize(("wrong", "words"), [
    (lambda t, qi: int(t.groupby(qi, observed=True).size().min()), "dropna=False"),
    (lambda t, qi: int(t.groupby(qi, dropna=False, observed=False).size().min()),
     "observed=True"),
    (lambda t, qi: int(t.groupby(qi, dropna=False, observed=True).size().max()), "largest"),
    (lambda t, qi: len(t.groupby(qi, dropna=False, observed=True)), "number of groups"),
    (lambda t, qi: float(t.groupby(qi, dropna=False, observed=True).size().mean()), "mean"),
    (lambda t, qi: float(ref_k(t, qi)), "as an int"),
])
def test_k_anonymity_catches_slips(profile, wrong, words):
    with pytest.raises(AssertionError) as info:
        lab06.k_anonymity(wrong, profile, HIERARCHIES)
    message = str(info.value)
    assert message.startswith("k_anonymity:") and words in message


def test_k_anonymity_catches_a_slip_only_visible_on_run_data(profile):
    def ignores_the_third_column(table, qi):
        return ref_k(table, list(qi)[:2])

    with pytest.raises(AssertionError, match="differs from labkit.privacy.k_anonymity"):
        lab06.k_anonymity(ignores_the_third_column, profile, HIERARCHIES)


def test_k_anonymity_bad_run_data(profile):
    with pytest.raises(AssertionError, match="profile table"):
        lab06.k_anonymity(ref_k, profile.to_numpy(), HIERARCHIES)
    with pytest.raises(AssertionError, match="HIERARCHIES"):
        lab06.k_anonymity(ref_k, profile, {"height": ["*"]})


# ---------------------------------------------------------------- release_levels


def test_release_levels_passes_each_best_release(profile, capsys):
    accepted, _ = best_levels(profile, 5)
    for levels in accepted:
        lab06.release_levels(levels, profile, HIERARCHIES, 5)
    assert capsys.readouterr().out.count("[ok] release_levels") == len(accepted)


def test_release_levels_catches_slips(profile):
    accepted, options = best_levels(profile, 5)
    most_private = max(options, key=lambda o: o[1])[0]   # maximizes k: all suppressed
    raw = {c: 0 for c in HIERARCHIES}                     # ignores the requirement
    with pytest.raises(AssertionError, match="keeps more equivalence classes"):
        lab06.release_levels(most_private, profile, HIERARCHIES, 5)
    with pytest.raises(AssertionError, match="not 5-anonymous"):
        lab06.release_levels(raw, profile, HIERARCHIES, 5)
    unsafe = [o[0] for o in options if o[1] < 5 and o[0] != raw]
    with pytest.raises(AssertionError, match="not 5-anonymous"):
        lab06.release_levels(unsafe[0], profile, HIERARCHIES, 5)


@pytest.mark.parametrize(("levels", "words"), [
    ("age_band=2,occupation=1,region=0", "dict"),
    ({"age_band": 2, "occupation": 1}, "one level for each"),
    ({"age_band": 3, "occupation": 1, "region": 0}, "from 0 to 2"),
    ({"age_band": 1.0, "occupation": 1, "region": 0}, "an int"),
    ({"age_band": True, "occupation": 1, "region": 0}, "an int"),
])
def test_release_levels_rejects_malformed_decisions(profile, levels, words):
    with pytest.raises(AssertionError, match=words):
        lab06.release_levels(levels, profile, HIERARCHIES, 5)


def test_release_levels_records_the_accepted_set(profile, tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    accepted, _ = best_levels(profile, 5)
    with pytest.raises(AssertionError):
        lab06.release_levels({c: 2 for c in HIERARCHIES}, profile, HIERARCHIES, 5)
    values = json.loads((tmp_path / "release_levels.json").read_text())["values"]
    keys = {",".join(f"{c}={v}" for c, v in levels.items()) for levels in accepted}
    assert set(values["release"]["accepted"]) == keys
    assert values["release"]["decision"] == "age_band=2,occupation=2,region=2"


# ---------------------------------------------------------------- laplace_count


def test_laplace_count_passes_references(counts, capsys):
    lab06.laplace_count(ref_laplace, counts, GRID)
    lab06.laplace_count(ref_laplace_by_exponentials, counts, GRID)
    assert capsys.readouterr().out.count("[ok] laplace_count") == 2


def laplace_scale_epsilon(count, epsilon, rng):
    count = np.asarray(count, dtype=float)
    return count + rng.laplace(0.0, epsilon, size=count.shape)


def laplace_shared(count, epsilon, rng):
    return np.asarray(count, dtype=float) + rng.laplace(0.0, 1.0 / epsilon)


def laplace_gaussian(count, epsilon, rng):
    count = np.asarray(count, dtype=float)
    return count + rng.normal(0.0, 1.0 / epsilon, size=count.shape)


def laplace_global(count, epsilon, rng):
    count = np.asarray(count, dtype=float)
    return count + np.random.laplace(0.0, 1.0 / epsilon, size=count.shape)


def laplace_in_place(count, epsilon, rng):
    count += rng.laplace(0.0, 1.0 / epsilon, size=np.shape(count))
    return count


def laplace_rounded(count, epsilon, rng):
    return np.round(ref_laplace(count, epsilon, rng))


def laplace_shifted(count, epsilon, rng):
    return ref_laplace(count, epsilon, rng) + 2.0 / epsilon


def laplace_list(count, epsilon, rng):
    return list(np.atleast_1d(ref_laplace(count, epsilon, rng)))


@pytest.mark.parametrize(("wrong", "words"), [
    (laplace_scale_epsilon, "scale looks like epsilon"),
    (laplace_shared, "independent value per count"),
    (laplace_gaussian, "Gaussian"),
    (laplace_global, "rng you are given"),
    (laplace_in_place, "changed the counts"),
    (laplace_rounded, "Laplace distribution"),
    (laplace_shifted, "not centred"),
    (laplace_list, "single number"),
])
def test_laplace_count_catches_slips(counts, wrong, words):
    with pytest.raises(AssertionError) as info:
        lab06.laplace_count(wrong, counts, GRID)
    message = str(info.value)
    assert message.startswith("laplace_count:") and words in message


def test_laplace_count_stub_and_bad_run_data(counts):
    with pytest.raises(AssertionError, match="not implemented yet"):
        lab06.laplace_count(not_implemented, counts, GRID)
    with pytest.raises(AssertionError, match="true counts"):
        lab06.laplace_count(ref_laplace, [[1, 2]], GRID)
    with pytest.raises(AssertionError, match="EPSILONS"):
        lab06.laplace_count(ref_laplace, counts, [0.0, 1.0])


# ---------------------------------------------------------------- epsilon


def test_epsilon_passes_the_smallest_value(counts, capsys):
    lab06.epsilon(smallest_epsilon(counts, GRID), counts, GRID, 0.1, 0.95)
    assert "[ok] epsilon" in capsys.readouterr().out


def test_epsilon_catches_slips(counts):
    right = smallest_epsilon(counts, GRID)
    allowed = 0.1 * counts.to_numpy(dtype=float)
    mean_slip = min(e for e in GRID if (1 - np.exp(-e * allowed)).mean() >= 0.95)
    mainland_only = smallest_epsilon(counts.drop("islands"), GRID)
    assert mean_slip < right and mainland_only < right
    for wrong in (mean_slip, mainland_only):
        with pytest.raises(AssertionError, match="smallest count decides"):
            lab06.epsilon(wrong, counts, GRID, 0.1, 0.95)
    with pytest.raises(AssertionError, match="spending more privacy"):
        lab06.epsilon(max(GRID), counts, GRID, 0.1, 0.95)
    with pytest.raises(AssertionError, match="one of the values"):
        lab06.epsilon(right + 0.05, counts, GRID, 0.1, 0.95)
    with pytest.raises(AssertionError, match="a number from EPSILONS"):
        lab06.epsilon("1.2", counts, GRID, 0.1, 0.95)


def test_epsilon_accepts_both_sides_of_a_close_call(tmp_path, monkeypatch):
    # One count of 30: coverage 1 - exp(-3 eps); at eps = 1.0 it is 0.950 (a close call).
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    grid = [0.8, 0.9, 1.0, 1.1, 1.2, 1.5]
    lab06.epsilon(1.0, [30.0, 200.0], grid, 0.1, 0.95)
    accepted = json.loads((tmp_path / "epsilon.json").read_text())["values"]["epsilon"]
    assert accepted["accepted"]["array"] == [1.0, 1.1, 1.2]


# ---------------------------------------------------------------- recall_by_group


def test_recall_passes_reference(recall_run, capsys):
    lab06.recall_by_group(ref_recall, *recall_run)
    lab06.recall_by_group(lambda y, p, g: pd.Series(ref_recall(y, p, g)), *recall_run)
    assert capsys.readouterr().out.count("[ok] recall_by_group") == 2


def recall_over_size(y, p, g):
    y, p, g = map(np.asarray, (y, p, g))
    return {str(k): float(np.sum((g == k) & (y == 1) & (p == 1)) / np.sum(g == k))
            for k in np.unique(g)}


def recall_precision(y, p, g):
    y, p, g = map(np.asarray, (y, p, g))
    return {str(k): float(np.sum((g == k) & (y == 1) & (p == 1))
                          / max(np.sum((g == k) & (p == 1)), 1)) for k in np.unique(g)}


def recall_zero_for_empty(y, p, g):
    return {k: (0.0 if math.isnan(v) else v) for k, v in ref_recall(y, p, g).items()}


def recall_pooled(y, p, g):
    y, p = np.asarray(y), np.asarray(p)
    overall = float(p[y == 1].mean())
    return {str(k): overall for k in np.unique(g)}


@pytest.mark.parametrize(("wrong", "words"), [
    (recall_over_size, "group's size"),
    (recall_precision, "precision"),
    (recall_zero_for_empty, "NaN, not 0"),
    (recall_pooled, "for each group"),
    (lambda y, p, g: list(ref_recall(y, p, g).values()), "return a dict"),
    (lambda y, p, g: {k: "high" for k in ref_recall(y, p, g)}, "should be a number"),
])
def test_recall_catches_slips(recall_run, wrong, words):
    with pytest.raises(AssertionError) as info:
        lab06.recall_by_group(wrong, *recall_run)
    message = str(info.value)
    assert message.startswith("recall_by_group:") and words in message


def test_recall_catches_a_slip_only_visible_on_run_data(recall_run):
    def forgets_islands(y, p, g):
        out = ref_recall(y, p, g)
        if len(y) > 10:
            out.pop("islands")
        return out

    with pytest.raises(AssertionError, match="one entry per group"):
        lab06.recall_by_group(forgets_islands, *recall_run)

    def swapped_on_large(y, p, g):
        return ref_recall(p, y, g) if len(y) > 10 else ref_recall(y, p, g)

    with pytest.raises(AssertionError, match="differs from fairlearn"):
        lab06.recall_by_group(swapped_on_large, *recall_run)


def test_recall_bad_run_data(recall_run):
    y, p, g = recall_run
    with pytest.raises(AssertionError, match="equal length"):
        lab06.recall_by_group(ref_recall, y, p[:-1], g)
    with pytest.raises(AssertionError, match="0 and 1"):
        lab06.recall_by_group(ref_recall, y * 2, p, g)


# ---------------------------------------------------------------- constraint


def test_constraint_accepts_equal_recall(capsys):
    lab06.constraint(" True_Positive_Rate_Parity ")
    assert "[ok] constraint" in capsys.readouterr().out


@pytest.mark.parametrize(("answer", "words"), [
    ("demographic_parity", "same rate"),
    ("false_positive_rate_parity", "useless pre-loads"),
    ("equalized_odds", "more than the goal"),
    ("equal_opportunity", "answer with one of"),
    (1, "a string"),
])
def test_constraint_catches_wrong_answers(answer, words):
    with pytest.raises(AssertionError, match=words):
        lab06.constraint(answer)


# ---------------------------------------------------------------- recording


def test_checks_record_run_outputs_for_the_grader(tmp_path, monkeypatch, phones, profile,
                                                   counts, recall_run):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    lab06.pseudonymize(ref_pseudonymize, phones, KEY)
    lab06.dictionary_attack(ref_attack, phones, KEY, PREFIX, DIGITS)
    lab06.k_anonymity(ref_k, profile, HIERARCHIES)
    lab06.laplace_count(ref_laplace, counts, GRID)
    lab06.epsilon(smallest_epsilon(counts, GRID), counts, GRID, 0.1, 0.95)
    lab06.recall_by_group(ref_recall, *recall_run)
    lab06.constraint("true_positive_rate_parity")

    def values(task):
        return json.loads((tmp_path / f"{task}.json").read_text())["values"]

    assert values("pseudonymize")["pseudonyms"] == [ref_pseudonymize(p, KEY) for p in phones]
    attack = values("dictionary_attack")
    assert (attack["recovered_plain"]["array"], attack["recovered_keyed"]["array"]) == (1.0, 0.0)
    assert len(values("k_anonymity")["k"]["array"]) == 27
    assert values("laplace_count")["laplace_ok"]["array"] == [1.0, 1.0, 1.0]
    assert values("epsilon")["epsilon"]["decision"]["array"] == smallest_epsilon(counts, GRID)
    recalls = {k: v["array"] for k, v in values("recall_by_group")["recall"].items()}
    assert recalls == pytest.approx(ref_recall(*recall_run))
    assert values("constraint")["constraint"] == {
        "decision": "true_positive_rate_parity", "accepted": ["true_positive_rate_parity"]}


def test_a_wrong_worked_example_fails_before_anything_is_recorded(tmp_path, monkeypatch,
                                                                  phones, profile):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    with pytest.raises(AssertionError, match="key is ignored"):
        lab06.pseudonymize(lambda p, k: hashlib.sha256(p.encode()).hexdigest(), phones, KEY)
    with pytest.raises(AssertionError, match="dropna"):
        lab06.k_anonymity(lambda t, qi: int(t.groupby(qi, observed=True).size().min()),
                          profile, HIERARCHIES)
    assert list(tmp_path.iterdir()) == []
