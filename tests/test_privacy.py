"""Unit tests of labkit.privacy against independent references.

The pseudonyms are tested against published test vectors (FIPS 180-2 for SHA-256,
RFC 4231 for HMAC-SHA256), k-anonymity against a brute-force count, and the Laplace
mechanism against scipy.stats.laplace (a Kolmogorov-Smirnov test on its noise and the
closed-form tail for its coverage); diffprivlib, when installed, is a second reference.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from labkit.privacy import (
    SUPPRESSED,
    equivalence_class_sizes,
    generalize,
    k_anonymity,
    keyed_pseudonym,
    laplace_coverage,
    laplace_mechanism,
    plain_hash,
    synthetic_phone_numbers,
)

# ------------------------------------------------------------------------ pseudonyms


def test_plain_hash_matches_the_fips_test_vector():
    # FIPS 180-2, appendix B.1: SHA-256("abc").
    assert plain_hash("abc") == ("ba7816bf8f01cfea414140de5dae2223"
                                 "b00361a396177a9cb410ff61f20015ad")


@pytest.mark.parametrize("key, message, digest", [
    # RFC 4231, test case 1: a 20-byte key of 0x0b.
    (b"\x0b" * 20, "Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    # RFC 4231, test case 2.
    (b"Jefe", "what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
])
def test_keyed_pseudonym_matches_rfc_4231(key, message, digest):
    assert keyed_pseudonym(message, key) == digest


def test_keyed_pseudonym_depends_on_the_key_and_differs_from_the_plain_hash():
    phone = "+99 555 00042"
    one, two = keyed_pseudonym(phone, b"key one"), keyed_pseudonym(phone, b"key two")
    assert one != two
    assert plain_hash(phone) not in (one, two)
    assert keyed_pseudonym(phone, bytearray(b"key one")) == one


@pytest.mark.parametrize("value, key, error", [
    (42, b"k", TypeError), (b"+99", b"k", TypeError), ("+99", "k", TypeError),
    ("+99", b"", ValueError),
])
def test_keyed_pseudonym_rejects_bad_input(value, key, error):
    with pytest.raises(error, match="must be|empty"):
        keyed_pseudonym(value, key)


def test_plain_hash_rejects_non_strings():
    with pytest.raises(TypeError, match="must be a string"):
        plain_hash(5550042)


def test_phone_numbers_are_distinct_padded_and_seeded():
    numbers = synthetic_phone_numbers(500, prefix="+99 555 ", n_digits=3, random_state=1)
    assert len(set(numbers)) == 500
    assert all(n.startswith("+99 555 ") and len(n) == len("+99 555 ") + 3 for n in numbers)
    assert any(n[-3] == "0" for n in numbers)  # leading zeros are kept
    assert numbers == synthetic_phone_numbers(500, n_digits=3, random_state=1)
    assert numbers != synthetic_phone_numbers(500, n_digits=3, random_state=2)
    everything = synthetic_phone_numbers(100, n_digits=2, random_state=0)
    assert sorted(everything) == [f"+99 555 {i:02d}" for i in range(100)]


@pytest.mark.parametrize("kwargs, error", [
    ({"n": 101, "n_digits": 2}, ValueError), ({"n": -1}, ValueError),
    ({"n": 3, "n_digits": 0}, ValueError), ({"n": 2.5}, TypeError),
    ({"n": 3, "prefix": 99}, TypeError), ({"n": 3, "random_state": "seed"}, TypeError),
])
def test_phone_numbers_reject_bad_input(kwargs, error):
    with pytest.raises(error):
        synthetic_phone_numbers(**kwargs)


# ---------------------------------------------------------------------- k-anonymity


def brute_force_k(frame: pd.DataFrame, columns: list[str]) -> int:
    """Smallest number of rows sharing a row's values, missing values compared as equal."""
    keys = [tuple("<NA>" if pd.isna(v) else v for v in row)
            for row in frame[columns].itertuples(index=False)]
    return min(keys.count(key) for key in keys)


tables = st.integers(1, 30).flatmap(lambda n: st.tuples(
    st.lists(st.sampled_from(["a", "b", "c", None]), min_size=n, max_size=n),
    st.lists(st.sampled_from(["x", "y"]), min_size=n, max_size=n)))


@settings(max_examples=60, deadline=None)
@given(data=tables)
def test_k_anonymity_matches_a_brute_force_count(data):
    frame = pd.DataFrame({"u": data[0], "v": data[1]})
    assert k_anonymity(frame, ["u", "v"]) == brute_force_k(frame, ["u", "v"])
    assert k_anonymity(frame, ["v"]) == brute_force_k(frame, ["v"])
    assert equivalence_class_sizes(frame, ["u", "v"]).sum() == len(frame)


def test_missing_values_form_their_own_class_and_unused_categories_do_not_count():
    frame = pd.DataFrame({"age": ["18-34"] * 4 + ["35-64"] * 2 + [None], "region": ["n"] * 7})
    assert k_anonymity(frame, ["age", "region"]) == 1
    categorical = frame.iloc[:6].astype("category")
    categorical["age"] = categorical["age"].cat.add_categories(["65+"])
    assert k_anonymity(categorical, ["age", "region"]) == 2


@pytest.mark.parametrize("frame, columns, error", [
    ([["a"]], ["a"], TypeError),
    (pd.DataFrame({"a": [1]}), "a", TypeError),
    (pd.DataFrame({"a": [1]}), [], TypeError),
    (pd.DataFrame({"a": [1]}), ["b"], ValueError),
    (pd.DataFrame({"a": []}), ["a"], ValueError),
])
def test_k_anonymity_rejects_bad_input(frame, columns, error):
    with pytest.raises(error):
        k_anonymity(frame, columns)


HIERARCHY = {"age": [{"18-24": "18-34", "25-34": "18-34", "65+": "65+"}, SUPPRESSED],
             "region": [SUPPRESSED]}


def test_generalize_applies_each_step_and_keeps_missing_values_missing():
    frame = pd.DataFrame({"age": ["18-24", "25-34", "65+", None], "region": list("nnsi")})
    one = generalize(frame, HIERARCHY, {"age": 1})
    assert one["age"].tolist()[:3] == ["18-34", "18-34", "65+"]
    assert pd.isna(one["age"].iloc[3])
    assert one["region"].tolist() == list("nnsi")
    top = generalize(frame, HIERARCHY, {"age": 2, "region": 1})
    assert (top == SUPPRESSED).all().all()
    assert frame["age"].tolist()[0] == "18-24"  # the input is left alone
    assert k_anonymity(top, ["age", "region"]) == len(frame)


def test_generalizing_never_lowers_k():
    frame = pd.DataFrame({"age": ["18-24", "25-34", "65+", "65+", None, "18-24"],
                          "region": list("nnssii")})
    ks = [k_anonymity(generalize(frame, HIERARCHY, {"age": a, "region": r}), ["age", "region"])
          for a in range(3) for r in range(2)]
    grid = np.array(ks).reshape(3, 2)
    assert np.all(np.diff(grid, axis=0) >= 0) and np.all(np.diff(grid, axis=1) >= 0)


@pytest.mark.parametrize("hierarchies, levels, error, match", [
    (HIERARCHY, {"height": 1}, ValueError, "no column"),
    (HIERARCHY, {"age": 3}, ValueError, "at most 2"),
    (HIERARCHY, {"age": -1}, ValueError, "at least 0"),
    (HIERARCHY, {"age": 1.0}, TypeError, "integer"),
    ({"age": [{"18-24": "18-34"}]}, {"age": 1}, ValueError, "no coarser value"),
    ({"age": ["all"]}, {"age": 1}, TypeError, "dict or"),
    (["age"], {"age": 1}, TypeError, "dicts"),
])
def test_generalize_rejects_bad_hierarchies(hierarchies, levels, error, match):
    frame = pd.DataFrame({"age": ["18-24", "25-34", "65+"], "region": list("nns")})
    with pytest.raises(error, match=match):
        generalize(frame, hierarchies, levels)


# ---------------------------------------------------------------- Laplace mechanism


@pytest.mark.parametrize("epsilon, sensitivity", [(0.1, 1.0), (1.0, 1.0), (2.0, 3.0)])
def test_laplace_noise_follows_scipy_laplace(epsilon, sensitivity):
    counts = np.full(20_000, 120.0)
    noise = laplace_mechanism(counts, epsilon, sensitivity=sensitivity, random_state=7) - counts
    scale = sensitivity / epsilon
    assert stats.kstest(noise, stats.laplace(scale=scale).cdf).pvalue > 1e-3
    # The same test rejects a wrong scale and a Gaussian of the same scale.
    assert stats.kstest(noise, stats.laplace(scale=1.3 * scale).cdf).pvalue < 1e-6
    assert stats.kstest(noise, stats.norm(scale=scale).cdf).pvalue < 1e-6
    assert math.isclose(np.mean(np.abs(noise)), scale, rel_tol=0.05)


def test_laplace_mechanism_is_seeded_shaped_and_independent():
    counts = np.array([[3.0, 40.0], [500.0, 7.0]])
    one = laplace_mechanism(counts, 0.5, random_state=3)
    assert one.shape == counts.shape
    np.testing.assert_array_equal(one, laplace_mechanism(counts, 0.5, random_state=3))
    assert len(np.unique(one - counts)) == counts.size
    assert isinstance(laplace_mechanism(10, 1.0, random_state=0), float)
    rng = np.random.default_rng(5)
    assert laplace_mechanism(1.0, 1.0, random_state=rng) != laplace_mechanism(
        1.0, 1.0, random_state=rng)


@pytest.mark.parametrize("value, epsilon, sensitivity, error", [
    ([1.0], 0.0, 1.0, ValueError), ([1.0], -1.0, 1.0, ValueError),
    ([1.0], 1.0, 0.0, ValueError), ([np.nan], 1.0, 1.0, ValueError),
    (["12"], 1.0, 1.0, TypeError), ([1.0], "1", 1.0, TypeError),
])
def test_laplace_mechanism_rejects_bad_input(value, epsilon, sensitivity, error):
    with pytest.raises(error):
        laplace_mechanism(value, epsilon, sensitivity=sensitivity, random_state=0)


@settings(max_examples=50, deadline=None)
@given(epsilon=st.floats(1e-3, 50), bound=st.floats(0, 100),
       sensitivity=st.floats(0.1, 10))
def test_coverage_matches_scipy_laplace_cdf(epsilon, bound, sensitivity):
    law = stats.laplace(scale=sensitivity / epsilon)
    want = law.cdf(bound) - law.cdf(-bound)
    got = laplace_coverage(epsilon, bound, sensitivity=sensitivity)
    assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)


def test_coverage_is_vectorized_and_matches_the_simulated_share():
    eps = np.array([0.5, 1.0])
    cover = laplace_coverage(eps, 2.0)
    assert cover.shape == (2,) and cover[0] < cover[1]
    noise = laplace_mechanism(np.zeros(40_000), 1.0, random_state=1)
    assert abs(np.mean(np.abs(noise) <= 2.0) - cover[1]) < 0.01


@given(bad=st.one_of(st.just(0.0), st.just(-1.0), st.just(math.inf), st.just(math.nan)))
def test_coverage_rejects_bad_epsilon(bad):
    with pytest.raises(ValueError, match="epsilon"):
        laplace_coverage(bad, 1.0)


def test_coverage_rejects_a_negative_bound():
    with pytest.raises(ValueError, match="bound"):
        laplace_coverage(1.0, -0.5)


def test_agrees_with_diffprivlib_when_installed():
    # diffprivlib 0.6.6 fails to import with scikit-learn 1.9 (ImportError, not a missing
    # module), so any ImportError skips.
    diffprivlib = pytest.importorskip("diffprivlib", exc_type=ImportError)
    mechanism = diffprivlib.mechanisms.Laplace(epsilon=0.5, sensitivity=1.0)
    reference = np.array([mechanism.randomise(0.0) for _ in range(5_000)])
    ours = laplace_mechanism(np.zeros(5_000), 0.5, random_state=0)
    assert stats.ks_2samp(reference, ours).pvalue > 1e-3


@given(frame=st.one_of(st.none(), st.integers(), st.text(), st.lists(st.integers())))
def test_k_anonymity_says_what_it_needs(frame):
    with pytest.raises(TypeError, match="DataFrame"):
        k_anonymity(frame, ["age"])
    with pytest.raises(TypeError, match="DataFrame"):
        generalize(frame, HIERARCHY, {"age": 1})


@given(epsilon=st.one_of(st.floats(max_value=0.0), st.just(math.inf), st.just(math.nan)))
def test_laplace_mechanism_rejects_bad_epsilons(epsilon):
    with pytest.raises(ValueError, match="epsilon"):
        laplace_mechanism([1.0, 2.0], epsilon, random_state=0)
