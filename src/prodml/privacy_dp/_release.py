"""DPRelease: noisy counts per part, how they were made, and how to combine them."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from prodml._state import MAX_COUNT, Field, check_format_version, load_json, loading
from prodml.errors import ConfigError, ProdMLError, SchemaError, SchemaProblem
from prodml.privacy_dp._domains import CELLS, Domain, Groups, domain_from_dict
from prodml.privacy_dp._noise import MAX_ROWS_PER_PERSON, MECHANISMS, Noise

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DPPart", "DPRelease"]

FORMAT_VERSION = 1
PERSON_FORMAT_VERSION = 2  # unit "person": written with max_rows_per_person
PERSONS_FORMAT_VERSION = 3  # unit "person" with a noisy count of persons ("persons")
UNITS = ("row", "person")
MAX_SCALE = 1e9
"""Largest noise scale a saved release may declare (counts under it carry no signal)."""
SOURCES = ("profile", "group_counts", "window", "counts", "rows")
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass
class DPPart:
    """One released histogram: its domain, noisy counts, and the noise in them.

    ``noisy`` are the counts as released (exact count plus noise): unbiased, so they
    add up across sites, but possibly negative. :attr:`counts` clamps them at 0 for
    reading; proportions and drift tests use what each needs (see ``docs/governance.md``).
    """

    domain: Domain
    noisy: IntArray
    noise: tuple[Noise, ...]

    @property
    def labels(self) -> list[Any]:
        """Label of each cell."""
        return self.domain.labels

    @property
    def counts(self) -> IntArray:
        """Noisy counts clamped at 0 (post-processing: no privacy cost)."""
        return np.maximum(self.noisy, 0)

    @property
    def variance(self) -> float:
        """Noise variance of each noisy count (summed over the merged sites' noises)."""
        return math.fsum(n.variance for n in self.noise)

    @property
    def total(self) -> float:
        """Estimated number of rows: the sum of the noisy counts, at least 0."""
        return float(max(int(self.noisy.sum()), 0))

    def proportions(self, *, nulls: bool = False) -> FloatArray:
        """Share of each cell, from the clamped counts (``<null>`` left out by default).

        Uniform when every clamped count is 0 (nothing can be told apart from noise).
        """
        c = self.counts.astype(np.float64)
        if not nulls and not isinstance(self.domain, Groups):
            c = c[:-1]
        s = c.sum()
        return c / s if s > 0 else np.full(c.size, 1.0 / c.size)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "domain": self.domain.to_dict(),
            "counts": [int(c) for c in self.noisy],
            "noise": [n.to_dict() for n in self.noise],
        }


class DPRelease:
    """Differentially private counts of a profile, a fairness table or a monitor window.

    Made by :func:`release_profile`, :func:`release_group_counts`,
    :func:`release_window`, :func:`release_counts` or :func:`release_rows`; never holds an
    exact count.

    Attributes
    ----------
    source
        ``profile``, ``group_counts``, ``window``, ``counts`` or ``rows``.
    parts
        Column (or ``groups``) name to its :class:`DPPart`.
    epsilon, delta
        Privacy loss of one row under this release. After :meth:`merge` of releases
        of disjoint rows (sites, regions), the largest of theirs (parallel composition).
    mechanism
        ``laplace`` (discrete Laplace, pure epsilon-DP) or ``gaussian`` (discrete
        Gaussian, zCDP converted to (epsilon, delta)).
    unit
        The unit of privacy: ``row`` (a row added or removed changes one count of each
        part by 1) or ``person`` (a person added or removed, with all their rows, of
        which at most ``max_rows_per_person`` were counted).
    max_rows_per_person
        With unit ``person``: the bound on each person's rows the noise is scaled to
        (each part's sensitivity); ``None`` for unit ``row``.
    persons
        With unit ``person``: the noisy count of distinct persons whose rows were
        counted (the exact count plus noise of ``persons_noise``; sensitivity 1, paid
        from the release's epsilon), which lets :func:`compare` bound how clustered the
        rows can be; ``None`` when not released (unit ``row``, ``persons_share=0``,
        ``release_counts``, and releases saved before it existed).
    persons_noise
        The noise in ``persons``, one :class:`Noise` per merged site (empty without it).
    secure
        ``False`` when the noise came from a seeded numpy generator (tests only).
    sites
        Number of releases merged into this one.
    """

    persons: int | None
    persons_noise: tuple[Noise, ...]

    def __init__(
        self,
        source: str,
        parts: Mapping[str, DPPart],
        *,
        epsilon: float,
        delta: float,
        mechanism: str,
        secure: bool,
        sites: int = 1,
        max_rows_per_person: int | None = None,
        persons: int | None = None,
        persons_noise: tuple[Noise, ...] = (),
    ) -> None:
        if (persons is None) != (not persons_noise) or (
            persons is not None and max_rows_per_person is None
        ):
            raise ConfigError(
                "a DPRelease's count of persons needs its noise and a unit 'person'",
                parameter="persons",
            )
        self.source = source
        self.persons = persons
        self.persons_noise = tuple(persons_noise)
        self.unit = "row" if max_rows_per_person is None else "person"
        self.max_rows_per_person = max_rows_per_person
        self.parts: dict[str, DPPart] = dict(parts)
        self.epsilon = epsilon
        self.delta = delta
        self.mechanism = mechanism
        self.secure = secure
        self.sites = sites

    @property
    def columns(self) -> list[str]:
        """Names of the released parts."""
        return list(self.parts)

    def part(self, column: str) -> DPPart:
        """The part released for ``column``.

        Raises
        ------
        SchemaError
            When the release has no such column.
        """
        try:
            return self.parts[column]
        except (KeyError, TypeError):
            raise SchemaError(
                problems=[
                    SchemaProblem(
                        column if isinstance(column, str) else None,
                        "missing",
                        f"the release has no column {str(column)[:60]!r}; it has "
                        f"{self.columns[:20]}",
                    )
                ]
            ) from None

    def counts(self, column: str) -> dict[Any, int]:
        """Clamped noisy count per label of one column."""
        p = self.part(column)
        return dict(zip(p.labels, (int(c) for c in p.counts), strict=True))

    def group_counts(self) -> dict[tuple[Any, ...] | str, dict[str, int]]:
        """Clamped noisy ``tn, fp, fn, tp`` per declared group (and ``<other>``)."""
        p = self.part("groups")
        assert isinstance(p.domain, Groups)  # noqa: S101 - the only part named groups
        cells = p.counts.reshape(-1, len(CELLS))
        keys: list[tuple[Any, ...] | str] = [*p.domain.groups, "<other>"]
        return {
            k: dict(zip(CELLS, map(int, row), strict=True))
            for k, row in zip(keys, cells, strict=True)
        }

    def rates(self, metric: str = "selection_rate") -> dict[tuple[Any, ...], float | None]:
        """A rate per declared group from the clamped noisy counts.

        ``metric``: ``selection_rate`` ((fp + tp) / n), ``tpr``, ``fpr`` or ``accuracy``;
        ``None`` when the denominator's noisy count is 0.
        """
        formulas = {
            "selection_rate": (("fp", "tp"), ("tn", "fp", "fn", "tp")),
            "tpr": (("tp",), ("fn", "tp")),
            "fpr": (("fp",), ("tn", "fp")),
            "accuracy": (("tn", "tp"), ("tn", "fp", "fn", "tp")),
        }
        if metric not in formulas:
            raise ConfigError(
                f"The 'metric' parameter of DPRelease.rates must be one of {list(formulas)}. "
                f"Got {str(metric)[:40]!r} instead.",
                parameter="metric",
            )
        num, den = formulas[metric]
        out: dict[tuple[Any, ...], float | None] = {}
        for key, c in self.group_counts().items():
            if isinstance(key, str):
                continue
            d = sum(c[x] for x in den)
            out[key] = sum(c[x] for x in num) / d if d > 0 else None
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per cell: column, label, count (clamped), noisy count, noise sd."""
        import pandas as pd  # noqa: PLC0415 - only when asked for a frame

        rows = [
            (name, label, int(c), int(n), math.sqrt(p.variance))
            for name, p in self.parts.items()
            for label, c, n in zip(p.labels, p.counts, p.noisy, strict=True)
        ]
        return pd.DataFrame(rows, columns=["column", "label", "count", "noisy_count", "noise_sd"])

    def merge(self, other: DPRelease) -> DPRelease:
        """Add the noisy counts of another release of *other rows* (a site, a region).

        The merged counts are the sums of the sites' noisy counts, their noise the sum of
        the sites' noises; the privacy loss of a row, which sits at one site, is the
        largest of the sites' (parallel composition). Merging two releases of the same
        rows is not parallel: count both in a :class:`PrivacyBudget`. With unit
        ``person``, it is parallel only when each person's rows sit at one site (a
        person at two sites is protected at the sum of their epsilons).

        Raises
        ------
        ConfigError
            When ``other`` is not a DPRelease, or its source, mechanism or domains differ.
        """
        if not isinstance(other, DPRelease):
            raise ConfigError(
                f"DPRelease.merge needs a DPRelease; got {type(other).__name__}",
                parameter="other",
            )
        if (other.source, other.mechanism, other.columns) != (
            self.source,
            self.mechanism,
            self.columns,
        ):
            raise ConfigError(
                "cannot merge DP releases of different sources, mechanisms or columns",
                parameter="other",
            )
        if other.max_rows_per_person != self.max_rows_per_person:
            raise ConfigError(
                "cannot merge DP releases of different units of privacy (a row, or a person "
                f"of at most k rows): this one's is {self._unit_words()}, the other's "
                f"{other._unit_words()}",
                parameter="other",
            )
        parts = {}
        for name, mine in self.parts.items():
            theirs = other.parts[name]
            if theirs.domain != mine.domain:
                raise ConfigError(
                    f"cannot merge DP releases whose domains of column {name[:60]!r} differ",
                    parameter="other",
                )
            parts[name] = DPPart(mine.domain, mine.noisy + theirs.noisy, mine.noise + theirs.noise)
        # Persons add up across sites when each person's rows sit at one site (the same
        # condition as parallel composition); when one side has no count, none is kept
        # and compare falls back to the worst case of n / k persons.
        both = self.persons is not None and other.persons is not None
        return DPRelease(
            self.source,
            parts,
            epsilon=max(self.epsilon, other.epsilon),
            delta=max(self.delta, other.delta),
            mechanism=self.mechanism,
            secure=self.secure and other.secure,
            sites=self.sites + other.sites,
            max_rows_per_person=self.max_rows_per_person,
            persons=(self.persons or 0) + (other.persons or 0) if both else None,
            persons_noise=self.persons_noise + other.persons_noise if both else (),
        )

    @property
    def persons_variance(self) -> float:
        """Noise variance of :attr:`persons` (0 when it is not released)."""
        return math.fsum(n.variance for n in self.persons_noise)

    def _unit_words(self) -> str:
        k = self.max_rows_per_person
        return "a row" if k is None else f"a person of at most {k} rows"

    # -- state -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state: noisy counts and how they were made (no exact count).

        Written as ``format_version`` 1 with unit ``row``, 2 with unit ``person`` (which
        adds ``max_rows_per_person``), 3 with unit ``person`` and a count of persons
        (which adds ``persons``: the noisy count and its noise).
        """
        person: dict[str, Any] = (
            {}
            if self.max_rows_per_person is None
            else {"max_rows_per_person": self.max_rows_per_person}
        )
        version = FORMAT_VERSION if not person else PERSON_FORMAT_VERSION
        if self.persons is not None:
            version = PERSONS_FORMAT_VERSION
            person["persons"] = {
                "count": int(self.persons),
                "noise": [n.to_dict() for n in self.persons_noise],
            }
        return {
            "format_version": version,
            "source": self.source,
            "unit": self.unit,
            **person,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "mechanism": self.mechanism,
            "secure": self.secure,
            "sites": self.sites,
            "parts": {n: p.to_dict() for n, p in self.parts.items()},
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> DPRelease:
        """Rebuild a release saved by :meth:`to_dict`, validating every field.

        Raises
        ------
        StateError
            (also a ConfigError) naming the field at fault.
        """
        root = Field(state, owner="DPRelease")
        root.dict()
        version = check_format_version(
            root["format_version"].value,
            (FORMAT_VERSION, PERSON_FORMAT_VERSION, PERSONS_FORMAT_VERSION), owner="DPRelease",
        )  # fmt: skip
        keys = ("format_version", "source", "unit", "epsilon", "delta", "mechanism",
                "secure", "sites", "parts")  # fmt: skip
        person = version in (PERSON_FORMAT_VERSION, PERSONS_FORMAT_VERSION)
        counted = version == PERSONS_FORMAT_VERSION
        extra = ("max_rows_per_person", "persons") if counted else ("max_rows_per_person",)
        root.dict(keys=(*keys, *extra) if person else keys)
        source = root["source"].str(choices=SOURCES)
        root["unit"].str(choices=("person",) if person else ("row",))
        rows = root["max_rows_per_person"].int(lo=1, hi=MAX_ROWS_PER_PERSON) if person else None
        mechanism = root["mechanism"].str(choices=MECHANISMS)
        epsilon = root["epsilon"].float(lo=0.0, lo_open=True)
        delta = root["delta"].float(lo=0.0, hi=1.0, hi_open=True)
        secure = root["secure"].bool()
        sites = root["sites"].int(lo=1, hi=MAX_COUNT)
        parts = {}
        for name, f in root["parts"].items(max_len=100_000):
            parts[name] = _load_part(f, mechanism, sites)
        root["parts"].check(bool(parts), "at least one part")
        persons, persons_noise = (
            _load_persons(root["persons"], mechanism, sites) if counted else (None, ())
        )
        grouped = [isinstance(p.domain, Groups) for p in parts.values()]
        if source == "group_counts":
            root["parts"].check(list(parts) == ["groups"] and all(grouped), "one 'groups' part")
        else:
            root["parts"].check(not any(grouped), "bins or categories parts")
        return cls(
            source, parts, epsilon=epsilon, delta=delta, mechanism=mechanism,
            secure=secure, sites=sites, max_rows_per_person=rows, persons=persons,
            persons_noise=persons_noise,
        )  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> DPRelease:
        """Rebuild a release saved by :meth:`to_json` (size- and depth-limited parsing)."""
        return cls.from_dict(load_json(text, owner="DPRelease"))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DPRelease):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"DPRelease(source={self.source!r}, columns={self.columns[:10]}, "
            f"epsilon={self.epsilon!r}, delta={self.delta!r}, mechanism={self.mechanism!r}, "
            f"unit={self.unit!r}, sites={self.sites})"
        )


def _load_noise(f: Field, mechanism: str, sites: int) -> tuple[Noise, ...]:
    noise = []
    for n in f.each(min_len=sites, max_len=sites):
        n.dict(keys=("mechanism", "scale"))
        n["mechanism"].str(choices=(mechanism,))
        noise.append(Noise(mechanism, n["scale"].float(lo=0.0, hi=MAX_SCALE, lo_open=True)))
    return tuple(noise)


def _load_persons(f: Field, mechanism: str, sites: int) -> tuple[int, tuple[Noise, ...]]:
    f.dict(keys=("count", "noise"))
    return f["count"].int(lo=-MAX_COUNT, hi=MAX_COUNT), _load_noise(f["noise"], mechanism, sites)


def _load_part(f: Field, mechanism: str, sites: int) -> DPPart:
    f.dict(keys=("domain", "counts", "noise"))
    try:
        with loading("DPRelease"):
            domain = domain_from_dict(f["domain"].dict())
    except ProdMLError as err:
        raise f["domain"].fail(f"a valid domain ({str(err)[:200]})") from None
    counts = [c.int(lo=-MAX_COUNT, hi=MAX_COUNT) for c in f["counts"].each(length=domain.size)]
    noise = _load_noise(f["noise"], mechanism, sites)
    return DPPart(domain, np.asarray(counts, dtype=np.int64), noise)
