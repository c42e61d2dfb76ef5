"""Reading a saved :class:`~prodml.features.FeaturePipeline`: step types and checks.

``FeaturePipeline.from_dict`` rebuilds each step with :func:`_load_step` (its type among
:data:`STEP_TYPES`, its parameters, its fitted values), the input schema with
:func:`_load_schema`, and checks each saved ``Impute`` fill value against the kind of the
column it fills (:func:`_check_fill_kinds`); ``to_dict`` writes parameters through
:func:`_jsonable`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prodml._state import Field
from prodml.errors import ConfigError, ProdMLError
from prodml.features import _dates, _encoders, _functions, _numeric, _passthrough
from prodml.features._base import TEXT, TIME, Step
from prodml.features._program import KINDS
from prodml.schema import Schema

if TYPE_CHECKING:
    from prodml.features.pipeline import FeaturePipeline

__all__ = ["FORMAT_VERSION", "STEP_TYPES"]

FORMAT_VERSION = 1
STEP_TYPES: dict[str, type[Step]] = {
    cls.__name__: cls
    for cls in (
        _numeric.Impute,
        _numeric.StandardScale,
        _numeric.MinMaxScale,
        _numeric.RobustScale,
        _functions.Clip,
        _functions.Log1p,
        _functions.Function,
        _encoders.OneHot,
        _encoders.Ordinal,
        _encoders.Hashing,
        _encoders.Bucketize,
        _dates.DateParts,
        _passthrough.Passthrough,
    )
}


_MAX_STEPS = 10_000  # of a saved state


def _load_step(spec: Field) -> Step:
    """One step of a saved pipeline: type, parameters and fitted values, validated."""
    spec.dict(keys=("type", "params", "fitted"))
    step_cls = STEP_TYPES.get(spec["type"].str(max_len=100))
    if step_cls is None:
        raise spec["type"].fail("a feature step type: " + ", ".join(sorted(STEP_TYPES)))
    saved = spec["params"].dict()
    # A parameter added after the step's first format is absent from older states.
    params = {**step_cls.added_params, **saved}
    try:
        step = step_cls(**params)
        step.validate_params()
    except TypeError:
        raise spec["params"].fail(f"the parameters of {step_cls.__name__}") from None
    except ConfigError as err:
        name = err.parameter
        field = spec["params"][name] if name is not None and name in saved else spec["params"]
        raise field.fail(f"a valid setting ({err})") from None
    if spec["fitted"].value is not None:
        step.fitted_from_state(spec["fitted"])
    return step


def _check_fill_kinds(pipe: FeaturePipeline, schema: Schema, steps: Field) -> None:
    """A saved Impute fill value has the kind of the column it fills (number or text)."""
    kinds = {c: KINDS.get(schema[c].dtype.value, TIME) for c in schema.names}
    for i, step in enumerate(pipe.steps):
        for col in step.columns:
            kind = kinds[col]
            if isinstance(step, _numeric.Impute):
                fill = step.statistics_[col]
                steps[i]["fitted"]["statistics_"][col].check(
                    isinstance(fill, str) == (kind == TEXT),
                    f"a {'str' if kind == TEXT else 'number'} (the column holds {kind})",
                )
            kinds[col] = step.out_kind(col, kind)


def _load_schema(field: Field) -> Schema:
    try:
        return Schema.from_dict(field.dict())
    except ProdMLError as err:
        raise field.fail(f"a schema ({str(err)[:200]})") from None
    except (KeyError, TypeError, ValueError, AttributeError):
        raise field.fail("a schema (Schema.to_dict output)") from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value
