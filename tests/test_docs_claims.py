"""The docs' factual claims that drift when the code changes, pinned to the code.

tests/test_docs_run.py runs the pages' Python blocks; this file checks what the prose and
the tables state: the ``prodml`` flags the pages show, the extras they name, the defaults
their tables quote, the exceptions they name, the links between pages, and that every
public name is reachable from the API reference. A failure names the page and the claim.
"""

from __future__ import annotations

import argparse
import builtins
import functools
import importlib
import inspect
import pkgutil
import re
import shlex
import sys
import types
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import prodml
import prodml.errors

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# changelog.md is CHANGELOG.md: history names what was, so its claims are not checked.
PAGES = [ROOT / "README.md", *sorted(p for p in DOCS.glob("*.md") if p.name != "changelog.md")]
API_PAGES = sorted((DOCS / "api").glob("*.md"))

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
_INLINE = re.compile(r"`([^`\n]+)`")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _prose(text: str) -> str:
    """The page without its fenced blocks (inline code spans stay)."""
    return _FENCE.sub("", text)


# --- the prodml command -------------------------------------------------------------------


def _command_lines(text: str) -> Iterator[tuple[int, str]]:
    """``prodml ...`` invocations a page shows: in shell blocks and in inline code."""
    for fence in _FENCE.finditer(text):
        if fence.group(1) not in ("bash", "sh", "console", "text", "shell"):
            continue
        first = text.count("\n", 0, fence.start()) + 2
        for offset, line in enumerate(fence.group(2).splitlines()):
            body = line.strip().removeprefix("$ ")
            if body.startswith("prodml ") and "..." not in body:
                yield first + offset, body
    for span in _INLINE.finditer(_prose(text)):  # `prodml drift`, not `prodml (pandas)`
        if re.match(r"prodml (-|[a-z])", span.group(1)) and "..." not in span.group(1):
            yield text.count("\n", 0, span.start()) + 1, span.group(1)


def _words(command: str) -> list[str]:
    try:
        words = shlex.split(command, comments=True)
    except ValueError:  # an unbalanced quote in a sketch: take the plain words
        words = command.split("#", maxsplit=1)[0].split()
    return [w for w in words if w not in ("|", "&&", ">")][1:]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings}


@pytest.fixture(scope="module")
def cli_parser() -> argparse.ArgumentParser:
    from prodml.cli import build_parser

    return build_parser(None)


def _parser_for(
    root: argparse.ArgumentParser, words: list[str]
) -> tuple[str, argparse.ArgumentParser]:
    """The (sub)parser the words are given to, and its name (``registry card``)."""
    from prodml.registry._cli import SUBCOMMANDS

    positionals = [w for w in words if not w.startswith("-")]
    if not positionals:
        return "prodml", root
    name = positionals[0]
    parser = _subparsers(root).get(name)
    if parser is None:
        pytest.fail(f"'prodml {name}' is not a command (prodml --help lists them)")
    if name == "registry" and len(positionals) > 1 and positionals[1] in SUBCOMMANDS:
        return f"registry {positionals[1]}", SUBCOMMANDS[positionals[1]]()
    inner = _subparsers(parser)
    if inner and len(positionals) > 1 and positionals[1] in inner:
        return f"{name} {positionals[1]}", inner[positionals[1]]
    if inner and len(positionals) > 1 and positionals[1].isupper():  # ACTION: every one
        every = argparse.ArgumentParser(add_help=False)
        for flag in set.intersection(*(_options(p) for p in inner.values())):
            every.add_argument(flag)
        return f"{name} {positionals[1]}", every
    return name, parser


def _shown_commands() -> list[tuple[str, int, str]]:
    return [(p.name, n, line) for p in PAGES for n, line in _command_lines(_text(p))]


def test_the_pages_show_commands() -> None:
    names = {page for page, _, _ in _shown_commands()}
    assert {"cli.md", "README.md"} <= names


@pytest.mark.parametrize(("page", "line", "command"), _shown_commands())
def test_every_flag_a_page_shows_exists(
    cli_parser: argparse.ArgumentParser, page: str, line: int, command: str
) -> None:
    words = _words(command)
    name, parser = _parser_for(cli_parser, words)
    known = _options(parser) | ({"--help", "-h", "--version"} if name == "prodml" else set())
    flags = {w.split("=")[0] for w in words if re.fullmatch(r"--?[A-Za-z][\w-]*(=.*)?", w)}
    unknown = sorted(flags - known)
    assert not unknown, f"{page}:{line}: 'prodml {name}' has no {unknown} (shown: {command})"


# Flags of other tools the pages quote in inline code: the benchmark scripts' (--gb,
# --quick, --only, --repeat) and pyright's --verifytypes; spans naming mypy/pytest/pip skip.
_OTHER_TOOLS_FLAGS = {"--gb", "--quick", "--only", "--repeat", "--verifytypes"}


def _every_flag(parser: argparse.ArgumentParser) -> set[str]:
    flags = _options(parser)
    for sub in _subparsers(parser).values():
        flags |= _every_flag(sub)
    return flags


def test_every_flag_quoted_in_prose_exists(cli_parser: argparse.ArgumentParser) -> None:
    """`--format html` in a sentence (not only in a `prodml ...` line) is a flag of some
    prodml command."""
    from prodml.registry._cli import SUBCOMMANDS

    known = _every_flag(cli_parser) | _OTHER_TOOLS_FLAGS
    for make in SUBCOMMANDS.values():
        known |= _options(make())
    unknown = [
        (page.name, flag)
        for page in PAGES
        if page.name != "benchmarks.md"  # the benchmark scripts' own flags
        for span in _INLINE.findall(_prose(_text(page)))
        if not re.search(r"\b(mypy|pytest|pip|bench_\w+\.py)\b", span)
        for flag in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", span)
        if flag not in known
    ]
    assert not unknown, f"flags no prodml command has: {unknown}"


def test_cli_page_lists_every_command(cli_parser: argparse.ArgumentParser) -> None:
    text = _text(DOCS / "cli.md")
    shown = {name for _, _, c in _shown_commands() for name in _words(c)[:1]}
    missing = sorted(c for c in _subparsers(cli_parser) if c not in shown and c != "version")
    assert not missing, f"cli.md shows no example of {missing}"
    assert "prodml --help" in text


# --- extras ----------------------------------------------------------------------------------


def _extras() -> set[str]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10: tomli, where installed
        tomllib = pytest.importorskip("tomli", reason="reading pyproject.toml needs tomli")
    project = tomllib.loads(_text(ROOT / "pyproject.toml"))["project"]
    return set(project["optional-dependencies"])


@pytest.mark.parametrize("path", [*PAGES, *API_PAGES], ids=lambda p: p.name)
def test_every_extra_named_exists(path: Path) -> None:
    named = {
        extra.strip()
        for group in re.findall(r"prodml\[([\w, -]+)\]", _text(path))
        for extra in group.split(",")
    }
    named |= set(re.findall(r"extra [`']([\w-]+)[`']", _text(path)))
    assert not named - _extras(), f"{path.name} names extras pyproject.toml lacks"


def test_readme_lists_every_extra() -> None:
    section = _text(ROOT / "README.md").split("Optional extras:", 1)[1].split("## ", 1)[0]
    listed = set(re.findall(r"`([\w-]+)`", section))
    assert _extras() - {"test"} == listed


# --- defaults quoted in tables ------------------------------------------------------------


def _table_rows(text: str, header: str) -> list[list[str]]:
    """The rows of the first table whose header line contains ``header``."""
    lines = [line.strip() for line in text.splitlines()]  # tables in a list item too
    start = next(i for i, line in enumerate(lines) if line.startswith("|") and header in line)
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def _quoted_defaults(cell: str) -> dict[str, object]:
    """``name=value`` pairs of a cell; ``"a"|"b"`` means the default is ``"a"``."""
    found: dict[str, object] = {}
    for code in _INLINE.findall(cell):
        for name, value in re.findall(r"(\w+)=((?:\([^)]*\))|[^,()]+)", code):
            first = value.replace("\\|", "|").split("|")[0].strip()
            if not first or "..." in first:  # a placeholder, not a default
                continue
            try:
                found[name] = eval(first, {})  # noqa: S307 - a literal from our own docs
            except (NameError, SyntaxError):
                continue
    return found


def _check_defaults(page: str, target: Callable[..., Any], quoted: dict[str, object]) -> None:
    params = inspect.signature(target).parameters
    for name, said in quoted.items():
        assert name in params, f"{page}: {target.__name__} has no parameter {name!r}"
        actual = params[name].default
        sequences = isinstance(actual, (list, tuple)) and isinstance(said, (list, tuple))
        assert (list(actual) == list(said)) if sequences else (actual == said), (
            f"{page}: says {target.__name__}({name}={said!r}), the default is {actual!r}"
        )


def test_feature_steps_table_quotes_the_defaults() -> None:
    from prodml.features import steps

    rows = _table_rows(_text(DOCS / "features.md"), "| step | fitted | semantics |")
    assert len(rows) == 12
    for row in rows:
        name = re.match(r"`(\w+)\(", row[0])
        assert name is not None, row[0]
        _check_defaults("features.md", getattr(steps, name.group(1)), _quoted_defaults(row[0]))
        assert name.group(1) in steps.__all__


def test_streaming_defaults_table_quotes_the_defaults() -> None:
    from prodml.drift import streaming

    rows = _table_rows(_text(DOCS / "drift-streaming.md"), "| detector | prodml default |")
    assert {row[0] for row in rows} == set(streaming.__all__) - {"StreamingDetector"}
    for row in rows:
        quoted = _quoted_defaults(row[1])
        assert quoted or row[0] == "DDM", row
        _check_defaults("drift-streaming.md", getattr(streaming, row[0]), quoted)
    ddm = inspect.signature(streaming.DDM).parameters  # quoted as "warning 2, drift 4"
    assert (ddm["warning_threshold"].default, ddm["drift_threshold"].default) == (2, 4)


def test_privacy_table_quotes_the_defaults() -> None:
    from prodml.privacy import Privacy

    rows = {r[0].strip("`"): r[1] for r in _table_rows(_text(DOCS / "governance.md"), "| rule |")}
    policy = Privacy()
    assert rows["max_categories"] == f"{policy.max_categories:,}"
    assert rows["k"] == str(policy.k)
    assert (rows["detect"], rows["allow_raw"]) == ("on", "none")
    assert policy.detect
    assert policy.allow_raw == ()


def _signature_lines() -> list[tuple[str, int, str]]:
    """Signatures a page gives as a line of their own: "- `Name(a, b=1)`:" and the like."""
    pattern = re.compile(r"^(?:- )?(`[A-Z]\w*\([^`]*=[^`]*\)`)(?=:|\s*$| \(extra )", re.M)
    return [
        (page.name, text.count("\n", 0, match.start()) + 1, match.group(1))
        for page in PAGES
        for text in [_prose(_text(page))]
        for match in pattern.finditer(text)
    ]


def _public_callable(name: str) -> Callable[..., Any] | None:
    for module in _public_modules():
        if name in getattr(module, "__all__", ()):
            obj: Callable[..., Any] = getattr(module, name)
            return obj
    return None


def test_signature_lines_are_found() -> None:
    names = {span.split("(", maxsplit=1)[0].strip("`") for _, _, span in _signature_lines()}
    assert {"AlertRule", "InMemorySink", "PrometheusSink"} <= names


@pytest.mark.parametrize(("page", "line", "span"), _signature_lines())
def test_signature_lines_quote_the_defaults(page: str, line: int, span: str) -> None:
    target = _public_callable(span.split("(", maxsplit=1)[0].strip("`"))
    assert target is not None, f"{page}:{line}: {span} names no public callable"
    _check_defaults(f"{page}:{line}", target, _quoted_defaults(span))


def _seconds(words: str) -> float:
    number, unit = words.split()
    return float(number) * {"min": 60, "h": 3600, "days": 86400}[unit]


def test_burn_rate_table_quotes_the_default_windows() -> None:
    from prodml.monitoring import BurnRateRule

    rows = _table_rows(_text(DOCS / "monitoring.md"), "| long window | short window |")
    shown = [(_seconds(r[0]), _seconds(r[1]), float(r[2]), r[3]) for r in rows]
    windows = inspect.signature(BurnRateRule).parameters["windows"].default
    assert shown == [(w.long_s, w.short_s, w.factor, w.severity) for w in windows]


def test_error_rate_follow_up_table_quotes_the_defaults() -> None:
    from datetime import timedelta

    from prodml.retrain import ErrorRateTrigger

    rows = {r[0].strip("`"): r[1] for r in _table_rows(_text(DOCS / "retrain.md"), "| parameter |")}
    params = inspect.signature(ErrorRateTrigger).parameters
    assert rows["follow_up"] == f"`{params['follow_up'].default}`"
    assert params["watch"].default == timedelta(days=int(rows["watch"].removesuffix(" days")))
    assert rows["max_follow_ups"] == str(params["max_follow_ups"].default)
    assert params["settle"].default is None  # "the `drift` co-signal"


def test_governance_names_the_packages_load_compares() -> None:
    from prodml.registry._environment import CHECKED_PACKAGES

    text = " ".join(_text(DOCS / "governance.md").split())
    said = re.search(r"`load` compares the recorded versions of ([\w, -]+?) with the", text)
    assert said is not None
    named = {w.strip() for w in re.split(r",| and ", said.group(1)) if w.strip()}
    assert named == set(CHECKED_PACKAGES)


def test_personal_data_sampling_figures_match_the_code() -> None:
    from prodml import _schema_infer

    text = " ".join(_text(DOCS / "governance.md").split())
    assert f"up to {_schema_infer._PERSONAL_SAMPLE} distinct values" in text
    assert f"at least {_schema_infer._PERSONAL_SHARE:.0%} of them" in text


_PROSE_DEFAULTS = (
    re.compile(r"`(\w+)=([^`]+)` (?:by default|\(the default\)|is the default)"),
    re.compile(r"`(\w+)` \((?:the )?default:? `?([^`);]+?)`?(?:\)|;|, )"),
    re.compile(r"`(\w+)` defaults to `?([^`),;.]+)`?"),
)
_UNITS = {"%": 0.01, "MiB": 2**20, "days": 86400.0, "h": 3600.0, "s": 1.0, "ms": 0.001}


def _literal(said: str) -> object:
    """A default as a page writes it (``0.1%``, ``64 MiB``, ``14 days``, ``10_000``), or
    ``Ellipsis`` for words (``the positive class``)."""
    said = said.strip().replace(",", "")
    unit = re.fullmatch(r"([\d.e_+-]+) ?(%|MiB|days|h|s|ms)", said)
    if unit:
        return float(unit.group(1)) * _UNITS[unit.group(2)]
    try:
        return eval(said, {})  # noqa: S307 - a literal from our own docs
    except (NameError, SyntaxError):
        return Ellipsis


@functools.cache
def _all_defaults() -> dict[str, list[object]]:
    """Parameter name -> the defaults public callables (and their methods) give it."""
    found: dict[str, list[object]] = {}
    for module in _public_modules():
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            members = [getattr(obj, k) for k in vars(obj)] if inspect.isclass(obj) else []
            for candidate in [obj, *members]:
                try:
                    params = inspect.signature(candidate).parameters.values()
                except (TypeError, ValueError):
                    continue
                for param in params:
                    if param.default is not inspect.Parameter.empty:
                        found.setdefault(param.name, []).append(param.default)
    return found


def _same(default: object, said: object) -> bool:
    if isinstance(default, timedelta):
        default = default.total_seconds()
    return default == said or str(default) == str(said)


def _prose_defaults() -> list[tuple[str, str, str]]:
    return [
        (page.name, match.group(1), match.group(2))
        for page in PAGES
        for text in [" ".join(_prose(_text(page)).split())]
        for pattern in _PROSE_DEFAULTS
        for match in pattern.finditer(text)
        if _literal(match.group(2)) is not Ellipsis  # not "(default: the positive class)"
    ]


def test_prose_defaults_are_found() -> None:
    assert len(_prose_defaults()) >= 15


@pytest.mark.parametrize(("page", "name", "said"), _prose_defaults())
def test_a_default_stated_in_prose_is_a_default_in_the_code(
    page: str, name: str, said: str
) -> None:
    """ "`n_samples=10_000` by default", "`k` (default 5)": some public callable taking
    ``name`` has that default (the claim names no callable, so this is the check)."""
    value = _literal(said)
    defaults = _all_defaults().get(name)
    assert defaults, f"{page}: says {name!r} defaults to {said!r}; no public callable takes it"
    assert any(_same(d, value) for d in defaults), (
        f"{page}: says {name!r} defaults to {said!r}; the code's defaults: {defaults}"
    )


def test_rollout_policies_have_the_methods_rollout_md_lists() -> None:
    from prodml import rollout

    text = " ".join(_text(DOCS / "rollout.md").split())
    policies = re.search(r"Every rollout policy \(([^)]*)\):(.*?)The bandits", text)
    assert policies is not None
    names = re.findall(r"`(\w+)`", policies.group(1))
    listed = set(re.findall(r"`(\w+)\(", policies.group(2))) | {"decisions"}
    summary = re.search(r"; ([`\w, ]+) also take `observe_summary", policies.group(2))
    assert summary is not None
    with_summary = set(re.findall(r"`(\w+)`", summary.group(1)))
    for name in names:
        cls = getattr(rollout, name)
        missing = {m for m in listed if not hasattr(cls, m)}
        if name == "Shadow":  # "Shadow compares answers with compare / compare_many instead"
            assert missing == {"observe_many", "observe_summary"}
            assert hasattr(cls, "compare_many")
            continue
        assert missing <= {"observe_summary"}, (name, missing)
        assert hasattr(cls, "observe_summary") == (name in with_summary), name


# --- exceptions named ------------------------------------------------------------------------


def _error_names(text: str) -> set[str]:
    return set(re.findall(r"`(?:prodml\.errors\.)?([A-Z]\w*(?:Error|Warning))`", text))


@pytest.mark.parametrize("path", [*PAGES, *API_PAGES], ids=lambda p: p.name)
def test_every_exception_named_exists(path: Path) -> None:
    public = {n for m in _public_modules() for n in getattr(m, "__all__", ())}
    known = public | set(dir(prodml.errors)) | set(dir(builtins))
    unknown = sorted(
        n for n in _error_names(_prose(_text(path))) if n not in known and "." not in n
    )
    assert not unknown, f"{path.name} names exceptions prodml does not have: {unknown}"


def test_streaming_errors_are_the_ones_drift_streaming_md_names() -> None:
    from prodml.drift.streaming import ADWIN, DDM
    from prodml.errors import ConfigError, DriftError, StateError

    text = " ".join(_text(DOCS / "drift-streaming.md").split())
    assert "raises `prodml.errors.DriftError`, naming the detector" in text
    assert "`from_dict` raises `StateError` (also a `ConfigError`), naming the field" in text
    assert "on first use (`update`, `update_many`, `reset`, `to_dict`), not in `__init__`" in text
    with pytest.raises(DriftError, match="ADWIN"):
        ADWIN().update(float("nan"))
    with pytest.raises(StateError, match="'type'") as caught:
        DDM.from_dict(ADWIN().to_dict())
    assert isinstance(caught.value, ConfigError)
    bad = ADWIN(delta=1.5)  # stored, not checked
    with pytest.raises(ConfigError, match="The 'delta' parameter of ADWIN"):
        bad.update(1.0)


# --- the API reference --------------------------------------------------------------------


def _public_modules() -> list[types.ModuleType]:
    names = ["prodml"] + [
        m.name
        for m in pkgutil.walk_packages(prodml.__path__, "prodml.")
        if not any(part.startswith("_") for part in m.name.split("."))
    ]
    return [m for m in map(_import, names) if m is not None]


def _import(name: str) -> types.ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:  # a module of an extra that is not installed
        return None


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def _directives() -> dict[str, bool]:
    """``::: target`` of the API pages -> whether its members are rendered."""
    found: dict[str, bool] = {}
    for page in API_PAGES:
        text = _text(page)
        for match in re.finditer(r"^::: *([\w.]+)\n((?:[ \t]+.*\n)*)", text, re.M):
            found[match.group(1)] = "members: false" not in match.group(2)
    return found


def test_api_directives_resolve() -> None:
    for target in _directives():
        _resolve(target)  # an ImportError or AttributeError names the stale target
    for page in API_PAGES:  # and the members an option lists ("members: [- name]")
        for match in re.finditer(r"^::: *([\w.]+)\n((?:[ \t]+.*\n)*)", _text(page), re.M):
            listed = re.findall(r"^\s+- (\w+)\s*$", match.group(2), re.M)
            obj = _resolve(match.group(1))
            gone = [name for name in listed if not hasattr(obj, name)]
            assert not gone, f"api/{page.name}: {match.group(1)} has no {gone}"


def test_api_directives_are_separate_blocks() -> None:
    for page in API_PAGES:
        lines = _text(page).splitlines()
        for i in range(1, len(lines)):
            both = lines[i].startswith(":::") and lines[i - 1].startswith(":::")
            assert not both, f"api/{page.name}:{i + 1}: put a blank line between directives"


def test_every_public_name_is_in_the_api_reference() -> None:
    directives = _directives()
    shown: list[object] = []
    for target, with_members in directives.items():
        obj = _resolve(target)
        shown.append(obj)
        if isinstance(obj, types.ModuleType) and with_members:
            shown += [getattr(obj, n) for n in getattr(obj, "__all__", ())]
    prose = " ".join(_text(p) for p in API_PAGES)
    missing = []
    for module in _public_modules():
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            dotted = f"{module.__name__}.{name}"
            if isinstance(obj, types.ModuleType) or dotted in directives:
                continue  # a public submodule is checked name by name on its own
            if any(o is obj for o in shown) or f"`{dotted}`" in prose:
                continue
            missing.append(dotted)
    assert not missing, f"not reachable from docs/api/*.md: {missing}"


# --- links between pages -------------------------------------------------------------------


def _slug(heading: str) -> str:
    """The anchor mkdocs' toc extension gives a heading (its default slugify)."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    text = re.sub(r"[^\w\s-]", "", text)
    return re.sub(r"[-\s]+", "-", text)


def _anchors(path: Path) -> set[str]:
    return {_slug(h) for h in re.findall(r"^#{1,6} +(.+?) *$", _prose(_text(path)), re.M)}


def _links() -> list[tuple[str, str]]:
    return [
        (str(page.relative_to(ROOT)), target)
        for page in [*PAGES, *API_PAGES]
        for target in re.findall(r"\]\(([^)\s]+)\)", _prose(_text(page)))
        if not re.match(r"[a-z]+:", target)
    ]


@pytest.mark.parametrize(("page", "link"), _links())
def test_links_between_pages_resolve(page: str, link: str) -> None:
    file, _, anchor = link.partition("#")
    target = (ROOT / page).parent / file if file else ROOT / page
    assert target.exists(), f"{page}: link {link} points at no file"
    if not anchor or target.suffix != ".md":
        return
    if target.parent.name == "api" and anchor.startswith("prodml."):
        _resolve(anchor)  # mkdocstrings' anchor is the object's path
        assert any(anchor.startswith(d) for d in _directives()), f"{page}: {link}"
        return
    assert anchor in _anchors(target), f"{page}: {link}: no heading gives #{anchor}"


# --- the README's tables -----------------------------------------------------------------


def test_readme_table_lists_every_public_module() -> None:
    rows = _table_rows(_text(ROOT / "README.md"), "| module | what it gives you |")
    listed = {row[0].strip("`") for row in rows}
    top = {
        f"prodml.{m.name}"
        for m in pkgutil.iter_modules(prodml.__path__)
        if not m.name.startswith("_")
    }
    assert top - {"prodml.errors", "prodml.cli"} <= listed, "README's module table"
    assert "prodml` command" in listed  # the row of the `prodml` command


def test_readme_names_every_file_the_demo_writes() -> None:
    demo = ROOT / "src" / "prodml" / "_demo"
    code = " ".join(_text(path) for path in sorted(demo.glob("*.py")))
    written = set(re.findall(r'out / "([\w.]+)"', code))
    said = _text(ROOT / "README.md").split("**Run the end-to-end demo**", 1)[1]
    said = " ".join(said.split("```", 1)[0].split())
    named = {n.rstrip("/") for n in re.findall(r"`([\w.]+/?)`", said)}
    named |= {n.replace(".md", ".html") for n in named if "model_card" in n}  # `.md`/`.html`
    assert {"report.html", "registry", "feature_store"} <= written
    assert written <= named, f"README does not say the demo writes {sorted(written - named)}"


def test_readme_names_every_command(cli_parser: argparse.ArgumentParser) -> None:
    rows = _table_rows(_text(ROOT / "README.md"), "| module | what it gives you |")
    cell = next(row[1] for row in rows if row[0] == "`prodml` command")
    named = re.search(r"`prodml --help`: ([\w, -]+);", cell)
    assert named is not None, cell
    commands = set(_subparsers(cli_parser)) - {"version"}
    assert {w.strip() for w in named.group(1).split(",")} == commands


# --- exceptions the pages say are raised ---------------------------------------------------


def test_feature_pipeline_errors_are_the_ones_features_md_names() -> None:
    import pandas as pd

    from prodml.errors import ConfigError, SchemaError
    from prodml.features import FeaturePipeline, steps

    text = " ".join(_text(DOCS / "features.md").split())
    assert "(left as text, `fit` raises `ConfigError`)" in text
    assert (
        "(text or datetimes into a scaler, numbers into `DateParts`) raises `SchemaError`" in text
    )
    frame = pd.DataFrame(
        {"x": [1.0, 2.0], "s": ["a", "b"], "d": pd.to_datetime(["2024-01-01"] * 2)}
    )
    with pytest.raises(ConfigError, match="still text"):
        FeaturePipeline([steps.Impute(["s"], strategy="most_frequent")]).fit(frame)
    for step in (steps.StandardScale(["s"]), steps.StandardScale(["d"]), steps.DateParts(["x"])):
        with pytest.raises(SchemaError, match="the column holds"):
            FeaturePipeline([step]).fit(frame)


def test_explainer_refuses_an_unsupported_model_at_fit_as_explain_md_says() -> None:
    import numpy as np
    import pandas as pd
    from sklearn.neighbors import KNeighborsClassifier

    from prodml.errors import ConfigError
    from prodml.explain import Explainer
    from prodml.features import FeaturePipeline, steps

    assert "`Explainer(pipeline, model).fit()` on a model without an exact method" in " ".join(
        _text(DOCS / "explain.md").split()
    )
    frame = pd.DataFrame({"a": np.arange(20.0)})
    pipeline = FeaturePipeline([steps.StandardScale(["a"])]).fit(frame)
    model = KNeighborsClassifier(3).fit(pipeline.transform(frame), np.arange(20) % 2)
    explainer = Explainer(pipeline, model)  # stores its settings only
    with pytest.raises(ConfigError, match="sampling"):
        explainer.fit()


def test_the_changelog_and_benchmark_pages_show_their_files() -> None:
    """Both are symlinks; a plain file holding the path made the site show the path."""
    assert _text(DOCS / "changelog.md") == _text(ROOT / "CHANGELOG.md")
    assert _text(DOCS / "benchmarks.md") == _text(ROOT / "benchmarks" / "README.md")


def test_every_page_is_in_the_navigation() -> None:
    nav = set(re.findall(r":\s+([\w/.-]+\.md)\s*$", _text(ROOT / "mkdocs.yml"), re.M))
    pages = {str(p.relative_to(DOCS)) for p in [*DOCS.glob("*.md"), *API_PAGES]}
    assert pages == nav, (
        f"not in mkdocs.yml's nav: {sorted(pages - nav)}; gone: {sorted(nav - pages)}"
    )


def test_readme_says_what_ci_runs() -> None:
    item = _text(ROOT / "README.md").split("`bash .ci/run` is exactly", 1)[1].split("\n- ", 1)[0]
    said = " ".join(item.split())
    ci = _text(ROOT / ".ci" / "run")
    steps = {
        "ruff": "ruff check .",
        "mypy --strict tests/typing": "mypy --strict tests/typing",
        "pyright": "pyright --verifytypes",
        "docs build": "mkdocs build --strict",
        "demo command": "DEMO_CMD",
        "test command": "TEST_CMD",
    }
    for words, command in steps.items():
        assert words in said, f"README's Development list omits {words!r}"
        assert command in ci, f".ci/run no longer runs {command!r}"
    services = _text(ROOT / ".ci" / "services.sh")
    for server, variable in (("PostgreSQL", "POSTGRES"), ("S3", "S3"), ("Redis", "REDIS")):
        assert server in said
        assert f"PRODML_TEST_{variable}_" in services
