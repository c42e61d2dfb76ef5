"""scikit-learn's estimator bases, typed for type checkers.

scikit-learn ships no type information, so to a type checker a class deriving from its
``BaseEstimator`` has a base of unknown type, and so does everything that takes or
returns one (pyright counts all of them as partially unknown). Type checkers see the
declarations below, the part of scikit-learn's interface that prodml's feature classes
offer; at run time the names are scikit-learn's own classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["BaseEstimator", "TransformerMixin"]

if TYPE_CHECKING:
    from typing_extensions import Self

    class BaseEstimator:
        """``sklearn.base.BaseEstimator``: the settings as parameters."""

        def get_params(self, deep: bool = True) -> dict[str, Any]:
            """The settings, by name (``deep``: the nested estimators' too)."""
            ...

        def set_params(self, **params: Any) -> Self:
            """Change settings by name; returns the estimator."""
            ...

        def __sklearn_tags__(self) -> Any: ...

        def __getstate__(self) -> Any: ...

        def __setstate__(self, state: Any) -> None: ...

    class TransformerMixin:
        """``sklearn.base.TransformerMixin``: ``fit_transform`` and ``set_output``."""

        def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> Any:  # noqa: N803
            """``fit(X, y, **fit_params).transform(X)``."""
            ...

        def set_output(self, *, transform: str | None = None) -> Self:
            """Choose the container ``transform`` returns (``"default"``, ``"pandas"``)."""
            ...

else:
    from sklearn.base import BaseEstimator, TransformerMixin
