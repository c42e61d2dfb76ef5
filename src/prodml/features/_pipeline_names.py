"""The output names and the scikit-learn side of :class:`~prodml.features.FeaturePipeline`.

A mixin: the names and sources of the output features (``feature_names_out``,
``feature_sources_out``, ``output_groups``, ``get_feature_names_out``), the input schema,
scikit-learn's tags, and the step names that address step settings in ``get_params`` /
``set_params`` (so ``GridSearchCV`` can tune them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from prodml._quote import short_repr
from prodml.errors import ConfigError
from prodml.features._base import Step

if TYPE_CHECKING:
    from collections.abc import Sequence

    from typing_extensions import Self

    from prodml.features._fitted import FittedState
    from prodml.schema import Schema

__all__ = ["NamesAndParams"]


class NamesAndParams:
    """Output names, step names and scikit-learn's API of a feature pipeline (a mixin)."""

    if TYPE_CHECKING:  # supplied by FeaturePipeline
        steps: Sequence[Step]
        strict: bool

        def _check_fitted(self) -> FittedState: ...

    @property
    def feature_names_out(self) -> list[str]:
        """Names of the output features, in output order."""
        return list(self._check_fitted().feature_names)

    @property
    def feature_sources_out(self) -> list[tuple[str, ...]]:
        """For each output feature, the raw input columns it is computed from (in order).

        Composed through each column's chain of steps: the sources an encoder (or the
        last value step) reports are traced back through the value steps before it.

        Examples
        --------
        >>> import pandas as pd
        >>> from prodml.features import FeaturePipeline, steps
        >>> df = pd.DataFrame({"x": [1.0, 2.0], "c": ["a", "b"]})
        >>> pipe = FeaturePipeline([steps.StandardScale(["x"]), steps.OneHot(["c"])]).fit(df)
        >>> pipe.feature_sources_out
        [('x',), ('c',), ('c',)]
        """
        out: list[tuple[str, ...]] = []
        for p in self._check_fitted().programs:
            outputs = p.steps[-1].sources_out(p.column)
            for step in reversed(p.steps[:-1]):
                # Each earlier step produced the value named ``p.column`` from its sources.
                (before,) = step.sources_out(p.column)
                outputs = [
                    tuple(
                        dict.fromkeys(
                            s for name in srcs for s in (before if name == p.column else (name,))
                        )
                    )
                    for srcs in outputs
                ]
            out.extend(outputs)
        return out

    def output_groups(self) -> dict[str, list[int]]:
        """Raw input column -> indices of the output features computed from it.

        Columns in input order (first appearance in the steps); an output computed from
        several columns is listed under each of them.

        Examples
        --------
        >>> import pandas as pd
        >>> from prodml.features import FeaturePipeline, steps
        >>> df = pd.DataFrame({"x": [1.0, 2.0], "c": ["a", "b"]})
        >>> FeaturePipeline([steps.OneHot(["c"]), steps.Impute(["x"])]).fit(df).output_groups()
        {'c': [0, 1], 'x': [2]}
        """
        groups: dict[str, list[int]] = {}
        for j, sources in enumerate(self.feature_sources_out):
            for col in sources:
                groups.setdefault(col, []).append(j)
        return groups

    @property
    def input_schema(self) -> Schema:
        """The :class:`~prodml.schema.Schema` of the input, inferred at fit."""
        return self._check_fitted().schema

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output feature names as an object array (scikit-learn API)."""
        return np.asarray(self.feature_names_out, dtype=object)

    def __sklearn_tags__(self) -> Any:
        """scikit-learn tags: a transformer of tables with text and category columns.

        Nulls are data (an ``Impute`` step takes them), so ``allow_nan``; the output is
        always float64, so ``preserves_dtype`` says so; the target is not used.
        """
        # super(): scikit-learn's TransformerMixin and BaseEstimator, next in the MRO of
        # FeaturePipeline (this mixin stands before them).
        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.input_tags.allow_nan = True
        tags.input_tags.sparse = False
        tags.target_tags.required = False
        if tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = ["float64"]
        return tags

    @property
    def named_steps(self) -> dict[str, Step]:
        """Steps by name: the lowercased class name, numbered when a class repeats.

        ``[Impute, StandardScale, Impute]`` gives ``impute-1``, ``standardscale`` and
        ``impute-2``, as :func:`sklearn.pipeline.make_pipeline` names its steps. These
        names address step settings in :meth:`get_params` / :meth:`set_params`
        (``"standardscale__with_mean"``), so ``GridSearchCV`` can tune them.
        """
        steps = list(self.steps) if isinstance(self.steps, list | tuple) else []
        names = [type(s).__name__.lower() for s in steps]
        seen: dict[str, int] = {}
        out: dict[str, Step] = {}
        for base, step in zip(names, steps, strict=True):
            if names.count(base) > 1:
                seen[base] = seen.get(base, 0) + 1
                out[f"{base}-{seen[base]}"] = step
            else:
                out[base] = step
        return out

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Settings; with ``deep``, each step and its settings as ``name__setting``."""
        params: dict[str, Any] = super().get_params(deep=False)  # type: ignore[misc]
        if deep:
            for name, step in self.named_steps.items():
                params[name] = step
                if isinstance(step, Step):
                    for key, value in step.get_params(deep=True).items():
                        params[f"{name}__{key}"] = value
        return params

    def set_params(self, **params: Any) -> Self:
        """Set settings: ``steps``, ``strict``, a whole step by name, or ``step__setting``.

        Raises
        ------
        ConfigError
            For a name that is neither a setting nor a step (the message lists them).
        """
        for own in ("steps", "strict"):
            if own in params:
                setattr(self, own, params.pop(own))
        named = self.named_steps
        for key, value in params.items():
            name, nested, setting = key.partition("__")
            if name not in named:
                raise ConfigError(
                    f"Invalid parameter {short_repr(key)} for FeaturePipeline; valid are "
                    f"'steps', 'strict' and the step names {sorted(named)} (with "
                    "'name__setting' for a step's setting)",
                    parameter=key if isinstance(key, str) else None,
                )
            if not nested:
                index = list(named).index(name)
                self.steps = [*self.steps[:index], value, *self.steps[index + 1 :]]
                named = self.named_steps
                continue
            try:
                named[name].set_params(**{setting: value})
            except ValueError as err:  # scikit-learn's wording for an unknown setting
                raise ConfigError(
                    f"Invalid parameter {short_repr(key)} for FeaturePipeline: {err}",
                    parameter=key,
                ) from err
        return self
