"""The base of prodml's pydantic models (private): :class:`_Model`.

Frozen, no unknown fields, defaults validated, and pydantic's ``ValidationError`` turned
into one :class:`~prodml.errors.ConfigError` that names every invalid field
(:func:`_config_error`). :class:`~prodml.schema.Column`, :class:`~prodml.schema.Schema`
and the feature store's definitions derive from it; ``prodml.schema`` still offers it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from prodml.errors import ConfigError


class _Model(BaseModel):
    """Base for prodml's pydantic models: frozen, no unknown fields, ConfigError on bad input."""

    model_config: ClassVar[ConfigDict] = ConfigDict(
        frozen=True, extra="forbid", validate_default=True
    )

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise _config_error(type(self).__name__, err) from err

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Fields that differ from their default, enums by value (as users write them).

        ``Column(name='age', dtype='int', min=0.0)``, not nine fields, like scikit-learn's
        estimators. Required fields are always shown.
        """
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if not field.is_required():
                default = field.get_default(call_default_factory=True)
                if type(value) is type(default) and value == default:
                    continue
            yield name, value.value if isinstance(value, enum.Enum) else value


_MAX_SHOWN = 10
"""Problems a ConfigError lists before "and N more" (a 200,000-item list gave 18 MB)."""


def _config_error(owner: str, err: ValidationError) -> ConfigError:
    errors = err.errors()
    parts = []
    for e in errors[:_MAX_SHOWN]:
        loc = ".".join(str(x) for x in e["loc"]) or owner
        inner = e.get("ctx", {}).get("error")
        # A nested prodml model already wrote a full message; keep it instead of wrapping it.
        msg = str(inner) if isinstance(inner, ConfigError) else e["msg"]
        parts.append(f"{loc}: {msg}")
    if len(errors) > _MAX_SHOWN:
        parts.append(f"and {len(errors) - _MAX_SHOWN} more")
    first = errors[0]["loc"] if errors else ()
    return ConfigError(
        f"Invalid {owner}: " + "; ".join(parts),
        parameter=str(first[0]) if first else None,
    )
