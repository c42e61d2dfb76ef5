from __future__ import annotations

import pickle

import pytest

from prodml import errors
from prodml.errors import (
    AuthorizationError,
    ConfigError,
    ConflictError,
    DriftError,
    IntegrityError,
    MissingExtraError,
    NotFittedError,
    NotFoundError,
    PolicyError,
    ProdMLError,
    RegistryError,
    SchemaError,
    SchemaProblem,
    StateError,
    StorageError,
    UnpicklableError,
)

TREE = {
    SchemaError: (ProdMLError, ValueError),
    NotFittedError: (ProdMLError, ValueError, AttributeError),
    ConfigError: (ProdMLError, ValueError),
    RegistryError: (ProdMLError,),
    NotFoundError: (RegistryError, KeyError),
    ConflictError: (RegistryError,),
    IntegrityError: (RegistryError,),
    StorageError: (RegistryError,),
    AuthorizationError: (RegistryError, PermissionError),
    DriftError: (ProdMLError, ValueError),
    PolicyError: (ProdMLError, ValueError),
    StateError: (ProdMLError, ValueError),
    MissingExtraError: (ProdMLError, ImportError),
    UnpicklableError: (ConfigError, TypeError),
}


@pytest.mark.parametrize(("cls", "bases"), list(TREE.items()))
def test_hierarchy(cls: type[Exception], bases: tuple[type, ...]) -> None:
    for base in bases:
        assert issubclass(cls, base), f"{cls.__name__} must subclass {base.__name__}"


def test_every_public_error_is_in_the_tree_and_drawn_in_the_docstring() -> None:
    public = {getattr(errors, n) for n in errors.__all__} - {SchemaProblem}
    assert public == set(TREE) | {ProdMLError}
    for cls in public:
        assert cls.__name__ in (errors.__doc__ or "")


def test_not_found_message_is_not_quoted_like_keyerror() -> None:
    err = NotFoundError("model 'churn' not found", model_name="churn", version=3)
    assert str(err) == "model 'churn' not found"
    assert (err.model_name, err.version) == ("churn", 3)
    with pytest.raises(KeyError):
        raise err


def test_missing_extra_names_the_extra() -> None:
    err = MissingExtraError(package="dask", extra="dask", feature="Dask scale-out")
    assert "pip install 'prodml[dask]'" in str(err)
    assert str(err).startswith("Dask scale-out needs")
    assert (err.name, err.extra, err.package) == ("dask", "dask", "dask")


def test_schema_error_lists_every_problem_and_context() -> None:
    problems = [
        SchemaProblem("a", "missing", "column is missing"),
        SchemaProblem("b", "type", "expected float, got str '1.5'", row=2),
        SchemaProblem("a", "null", "1 null value"),
    ]
    err = SchemaError(problems=problems)
    text = str(err)
    assert text.startswith("3 problems found:")
    assert "column 'b': expected float, got str '1.5' (first at row 2)" in text
    assert err.column == "a"
    assert err.columns == ["a", "b"]
    single = SchemaError(problems=problems[1:2])
    assert str(single) == "column 'b': expected float, got str '1.5' (first at row 2)"


def test_context_attributes() -> None:
    assert IntegrityError("x", path="m/1/model.skops", model_name="m", version=1).path == (
        "m/1/model.skops"
    )
    assert ConfigError("x", parameter="alpha").parameter == "alpha"
    assert DriftError("x", column="f0").column == "f0"
    assert PolicyError("x", variant="canary").variant == "canary"
    assert NotFittedError("x", estimator="FeaturePipeline").estimator == "FeaturePipeline"


def test_errors_survive_pickling_for_multiprocessing() -> None:
    err = ConfigError("bad", parameter="alpha")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is ConfigError
    assert str(back) == "bad"


def test_storage_error_names_path_and_errno() -> None:
    import errno

    err = StorageError("cannot write /srv/m: No space left", path="/srv/m", errno=errno.ENOSPC)
    assert (err.path, err.errno, err.model_name) == ("/srv/m", errno.ENOSPC, None)
    assert isinstance(err, RegistryError)
