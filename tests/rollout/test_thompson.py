"""ThompsonSampling's buffered sampler: exact posterior draws, exact resumption."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from prodml.errors import PolicyError
from prodml.rollout import ThompsonSampling

SE_TOL = 4.5  # standard errors allowed for a choice share (seeded: deterministic anyway)


def p_best(dists: list[Any], lo: float, hi: float) -> list[float]:
    """Exact P(arm i has the highest draw) for independent continuous posteriors."""
    out = []
    for i, di in enumerate(dists):
        others = [d for j, d in enumerate(dists) if j != i]

        def integrand(t: float, di: Any = di, others: list[Any] = others) -> float:
            return float(di.pdf(t) * np.prod([d.cdf(t) for d in others]))

        value, _ = integrate.quad(integrand, lo, hi, limit=200)
        out.append(value)
    return out


def bernoulli(successes: list[int], failures: list[int], seed: int) -> ThompsonSampling:
    arms = [f"arm{i}" for i in range(len(successes))]
    bandit = ThompsonSampling(arms, seed=seed)
    names, rewards = [], []
    for arm, s, f in zip(arms, successes, failures, strict=True):
        names += [arm] * (s + f)
        rewards += [1.0] * s + [0.0] * f
    bandit.update_many(names, rewards)
    return bandit


def assert_share(share: float, p: float, n: int) -> None:
    assert share == pytest.approx(p, abs=SE_TOL * np.sqrt(p * (1 - p) / n) + 1e-12)


def test_two_arm_share_matches_exact_probability_of_being_best() -> None:
    # Posteriors Beta(30, 70) and Beta(35, 65) (uniform prior + 29/69 and 34/64).
    p_y = p_best([stats.beta(30, 70), stats.beta(35, 65)], 0, 1)[1]
    assert 0.7 < p_y < 0.8
    n = 30_000
    for seed in (0, 1):
        looped = bernoulli([29, 34], [69, 64], seed)
        share = [looped.choose() for _ in range(n)].count("arm1") / n
        assert_share(share, p_y, n)
    batched = bernoulli([29, 34], [69, 64], 2).choose_many(n)
    assert_share(batched.count("arm1") / n, p_y, n)


def test_three_arm_chi_square_bernoulli_and_gaussian() -> None:
    n = 30_000
    bandit = bernoulli([10, 12, 3], [20, 18, 7], seed=5)
    probs = p_best([stats.beta(11, 21), stats.beta(13, 19), stats.beta(4, 8)], 0, 1)
    assert sum(probs) == pytest.approx(1, abs=1e-6)
    counts = Counter(bandit.choose_many(n))
    observed = [counts[f"arm{i}"] for i in range(3)]
    assert stats.chisquare(observed, np.multiply(probs, n)).pvalue > 1e-4

    g = ThompsonSampling(["a", "b", "c"], reward="gaussian", seed=6)
    data = {"a": [0.0, 1.0, 2.0], "b": [0.5, 1.5, 2.5, 1.0], "c": [1.0, 1.2]}
    for arm, values in data.items():
        g.update_many([arm] * len(values), values)
    # Posterior of each mean: N(mean, s^2 / (n + 1)), s^2 = (M2 + prior_variance) / n.
    dists = [
        stats.norm(np.mean(v), np.sqrt((np.var(v) * len(v) + 1.0) / len(v) / (len(v) + 1)))
        for v in data.values()
    ]
    probs = p_best(dists, -10, 12)
    assert sum(probs) == pytest.approx(1, abs=1e-6)
    counts = Counter(g.choose() for _ in range(n))
    observed = [counts[a] for a in "abc"]
    assert stats.chisquare(observed, np.multiply(probs, n)).pvalue > 1e-4


def test_share_stays_exact_when_another_arm_is_updated_between_decisions() -> None:
    # "z" is updated between decisions (dropping pending decisions and z's draws), while
    # the draws of x and y are kept: the x/y split must still follow their posteriors.
    bandit = bernoulli([29, 34, 0], [69, 64, 3000], seed=8)
    p_y = p_best([stats.beta(30, 70), stats.beta(35, 65)], 0, 1)[1]
    chosen = []
    for i in range(20_000):
        chosen.append(bandit.choose())
        if i % 3 == 0:
            bandit.update("arm2", 0.0)
    counts = Counter(chosen)
    assert counts["arm2"] == 0  # Beta(1, 1000+) never beats Beta(30, 70) in practice
    n_xy = counts["arm0"] + counts["arm1"]
    assert_share(counts["arm1"] / n_xy, p_y, n_xy)


def test_buffered_draws_are_beta_and_normal_ks() -> None:
    bandit = bernoulli([29], [69], seed=9)
    bandit.choose()  # set up
    with bandit._lock:
        draws = np.concatenate([bandit._take_draws(0, 3000), bandit._take_draws(0, 2000)])
    assert stats.kstest(draws, stats.beta(30, 70).cdf).pvalue > 1e-3
    g = ThompsonSampling(["a"], reward="gaussian", seed=9)
    g.choose()
    with g._lock:
        z = g._take_normals(5000)
    assert stats.kstest(z, stats.norm.cdf).pvalue > 1e-3


def test_update_drops_pending_decisions_at_once() -> None:
    bandit = ThompsonSampling(["x", "y"], seed=1)
    bandit.choose_many(300)  # blocks up to 256 decisions are pending now
    assert bandit.to_dict()["sampler"]["pending"]
    bandit.update_many(["y"] * 5000, [1.0] * 5000)
    state = bandit.to_dict()["sampler"]
    assert state["pending"] == []
    assert state["block_size"] == 1
    assert state["draws"][1] == []  # y's old draws are gone; x's are kept
    assert bandit.choose_many(100) == ["y"] * 100
    gauss = ThompsonSampling(["x", "y"], reward="gaussian", seed=1)
    gauss.update_many(["x", "x", "y", "y"], [0.0, 0.5, 0.0, 0.5])
    gauss.choose_many(300)
    gauss.update_many(["y"] * 50, [100.0] * 50)
    assert gauss.choose_many(100) == ["y"] * 100


def test_block_sizes_grow_and_reset() -> None:
    bandit = ThompsonSampling(["x", "y", "z"], seed=0)
    sizes = []
    for _ in range(600):
        bandit.choose()
        sizes.append(bandit.to_dict()["sampler"]["block_size"])
    assert sizes[0] == 2
    assert max(sizes) == 256
    assert sorted(set(sizes)) == [2, 4, 8, 16, 32, 64, 128, 256]
    bandit.update("x", 1.0)
    assert bandit.to_dict()["sampler"]["block_size"] == 1
    # Stored sampler state stays small: at most a block of pending decisions, a few draws.
    bandit.choose_many(300)
    sampler = bandit.to_dict()["sampler"]
    assert 0 < len(sampler["pending"]) <= 256
    assert max(len(d) for d in sampler["draws"]) < 4
    assert len(json.dumps(sampler)) < 2500


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("choose"), st.integers(1, 40)),
        st.tuples(st.just("update"), st.integers(0, 2), st.floats(0, 1)),
        st.tuples(st.just("batch"), st.integers(0, 2), st.integers(1, 5)),
        st.tuples(st.just("restore"), st.just(0)),
    ),
    max_size=25,
)


def run(bandit: ThompsonSampling, ops: list[tuple[Any, ...]], *, batch: bool) -> list[Any]:
    """Apply ``ops``; ``batch`` switches choose_many for a loop of choose."""
    arms, out = ["a", "b", "c"], []
    for op in ops:
        if op[0] == "choose":
            out += bandit.choose_many(op[1]) if batch else [bandit.choose() for _ in range(op[1])]
        elif op[0] == "update":
            bandit.update(arms[op[1]], op[2])
        elif op[0] == "batch":
            bandit.update_many([arms[op[1]]] * op[2], [0.25] * op[2])
        elif batch:  # restore from JSON in one of the two runs only
            bandit = ThompsonSampling.from_json(bandit.to_json())
    out.append(json.loads(bandit.to_json()))
    return out


@settings(deadline=None)
@given(ops=OPS, reward=st.sampled_from(["bernoulli", "gaussian"]), seed=st.integers(0, 3))
def test_restore_anywhere_and_choose_many_match_the_plain_loop(
    ops: list[tuple[Any, ...]], reward: str, seed: int
) -> None:
    make = lambda: ThompsonSampling(["a", "b", "c"], reward=reward, seed=seed)  # noqa: E731
    assert run(make(), ops, batch=False) == run(make(), ops, batch=True)


@pytest.mark.parametrize("reward", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("warm", [0, 1, 2, 7, 300])
def test_restore_mid_block_continues_exactly(reward: str, warm: int) -> None:
    bandit = ThompsonSampling(["a", "b", "c"], reward=reward, seed=3)
    bandit.update_many(["a", "b", "c"] * 4, [0.1, 0.5, 0.9] * 4)
    bandit.choose_many(warm)
    text = bandit.to_json()
    restored = ThompsonSampling.from_json(text)
    assert restored.to_json() == text
    rng = np.random.default_rng(0)
    for _ in range(50):
        batch = int(rng.integers(1, 30))
        assert bandit.choose_many(batch) == restored.choose_many(batch)
        arm = str(rng.choice(["a", "b", "c"]))
        reward_value = float(rng.random())
        bandit.update(arm, reward_value)
        restored.update(arm, reward_value)
    assert bandit.to_dict() == restored.to_dict()


def test_seeded_runs_repeat_and_seeds_differ() -> None:
    def go(seed: int) -> list[str]:
        bandit = ThompsonSampling(["a", "b", "c"], reward="gaussian", seed=seed)
        bandit.update_many(["a", "b", "c"] * 2, [0.0, 0.1, 0.2, 1.0, 1.1, 0.9])
        return bandit.choose_many(50) + [bandit.choose() for _ in range(50)]

    assert go(4) == go(4)
    assert go(4) != go(5)


def test_concurrent_choices_hand_out_every_decision_once() -> None:
    # The blocks do not depend on which thread builds them, so 4 threads together get
    # exactly the multiset of decisions a single thread gets.
    reference = ThompsonSampling(["a", "b", "c"], seed=12)
    expected = Counter(reference.choose_many(8000))
    bandit = ThompsonSampling(["a", "b", "c"], seed=12)
    results: list[list[str]] = [[] for _ in range(4)]

    def worker(out: list[str]) -> None:
        out.extend(bandit.choose() for _ in range(2000))

    threads = [threading.Thread(target=worker, args=(r,)) for r in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(a for r in results for a in r) == expected
    assert bandit.to_dict()["sampler"] == reference.to_dict()["sampler"]


def test_single_arm_and_degenerate_gaussian() -> None:
    assert ThompsonSampling(["only"], seed=0).choose_many(600) == ["only"] * 600
    g = ThompsonSampling(["x", "y"], reward="gaussian", seed=0)
    # Equal rewards are no point mass: x keeps a chance, from the pseudo-observation of
    # prior_variance (each posterior N(mean, (0 + 1) / 2 / 3)).
    g.update_many(["x", "x", "y", "y"], [1.0, 1.0, 2.0, 2.0])
    p_x = stats.norm.cdf(-1.0 / np.sqrt(2 * 0.5 / 3))  # 0.042
    n = 20_000
    assert_share(g.choose_many(n).count("x") / n, p_x, n)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda s: s.update(bit_generator="MT19937"), "unknown generator"),
        (lambda s: s.update(pending=[0, 5]), "pending arm out of range"),
        (lambda s: s.update(pending=[-1]), "pending arm out of range"),
        (lambda s: s.update(block_size=0), "block_size 0"),
        (lambda s: s.update(block_size=10_000), "block_size 10000"),
        (lambda s: s.update(draws=[[0.5]]), "draws for the wrong arms"),
        (lambda s: s.update(draws=[[float("nan")], [], []]), "non-finite draw"),
        (lambda s: s.update(normals=["x"]), "malformed"),
        (lambda s: s.update(state="not hex"), "malformed"),
        (lambda s: s.pop("inc"), "malformed"),
    ],
)
def test_bad_stored_sampler_state(change: Any, match: str) -> None:
    bandit = ThompsonSampling(["a", "b", "c"], seed=0)
    bandit.choose_many(10)
    data = bandit.to_dict()
    change(data["sampler"])
    with pytest.raises(PolicyError, match=match):
        ThompsonSampling.from_dict(data)
    missing = {k: v for k, v in bandit.to_dict().items() if k != "sampler"}
    with pytest.raises(PolicyError, match="malformed"):
        ThompsonSampling.from_dict(missing)


def reference_thompson(
    probs: list[float], steps: int, delay: int, rng: np.random.Generator, rewards: np.ndarray
) -> int:
    """Textbook Thompson sampling (fresh Beta draws per decision); pulls of the last arm."""
    k = len(probs)
    succ, fail, pulls = np.zeros(k), np.zeros(k), np.zeros(k, dtype=int)
    queue: list[int] = []
    for _ in range(steps):
        arm = int(np.argmax(rng.beta(1 + succ, 1 + fail)))
        queue.append(arm)
        if len(queue) == delay:  # rewards arrive in batches of ``delay`` decisions
            for a in queue:
                r = rewards[a, pulls[a]]
                pulls[a] += 1
                succ[a] += r
                fail[a] += 1 - r
            queue = []
    return int(pulls[-1] + queue.count(k - 1))


def prodml_thompson(
    probs: list[float], steps: int, delay: int, seed: int, rewards: np.ndarray
) -> int:
    arms = [str(i) for i in range(len(probs))]
    bandit = ThompsonSampling(arms, seed=seed)
    pulls = [0] * len(probs)
    queue: list[str] = []
    for _ in range(steps):
        queue.append(bandit.choose())
        if len(queue) == delay:
            values = []
            for a in queue:
                values.append(float(rewards[int(a), pulls[int(a)]]))
                pulls[int(a)] += 1
            bandit.update_many(queue, values)
            queue = []
    return pulls[-1] + queue.count(arms[-1])


@pytest.mark.parametrize("delay", [1, 4])
def test_whole_runs_match_textbook_thompson_sampling(delay: int) -> None:
    # The full dynamics (decisions, updates, dropped blocks) must match a sampler drawing
    # fresh Beta variates for every decision: compare the distribution of the number of
    # pulls of the best arm over many short runs fed the same reward streams.
    probs, steps, runs = [0.3, 0.45, 0.6], 20, 1000
    ours, ref = [], []
    for run_id in range(runs):
        stream = np.random.default_rng(10_000 + run_id)
        rewards = (stream.random((3, steps)) < np.array(probs)[:, None]).astype(float)
        ours.append(prodml_thompson(probs, steps, delay, run_id, rewards))
        ref.append(reference_thompson(probs, steps, delay, np.random.default_rng(run_id), rewards))
    diff = np.mean(ours) - np.mean(ref)
    se = np.sqrt(np.var(ours, ddof=1) / runs + np.var(ref, ddof=1) / runs)
    assert abs(diff) < 4.5 * se
    bins = np.array([0, 3, 6, 9, 12, 15, steps + 1])
    table = np.array([np.histogram(ours, bins)[0], np.histogram(ref, bins)[0]])
    table = table[:, table.sum(axis=0) > 0]
    assert stats.chi2_contingency(table).pvalue > 1e-4
