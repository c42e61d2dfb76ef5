"""An unknown flag next to a URL with a password: named, and the password never shown.

A usage error repeats what argparse refused. The URLs' passwords were masked only when
found by a pattern in the message, which stopped at a quote or a space: a password with
``'``, ``"`` or a space in it was printed whole (``invalid choice: "postgresql://bob:
p'w...@db/x"``). Now the URLs are taken from the command line as given.
"""

from __future__ import annotations

import pytest

from prodml import cli

SECRET = "Zq8SECRETpw"  # noqa: S105 - a test password, in every password below, whatever surrounds it

# Passwords as users type them: plain, percent-encoded, with a quote (either) or a space.
PASSWORDS = [SECRET, f"p%40{SECRET}", f"p'{SECRET}", f'p"{SECRET}', f"p {SECRET}", f"p'\"{SECRET}"]


def _urls(pw: str) -> dict[str, str]:
    return {
        "db": f"postgresql+psycopg://bob:{pw}@db:5432/mlops",
        "artifacts": f"s3://models/registry?secret={pw}",
        "redis": f"redis://:{pw}@cache:6379/0",
    }


# Every command that takes a URL: (argv before the bogus flag, the command's prog).
def _commands(pw: str) -> list[tuple[list[str], str]]:
    u = _urls(pw)
    registry = ["--db", u["db"], "--artifacts", u["artifacts"]]
    store = ["--offline", u["db"], "--online", u["redis"]]
    return [
        (["registry", *registry], "prodml registry"),
        (["registry", *registry, "churn"], "prodml registry"),
        (["registry", "card", *registry, "churn@1"], "prodml registry card"),
        (
            ["registry", "prune-history", *registry, "churn", "--keep", "1"],
            "prodml registry prune-history",
        ),
        (["serve", "churn@1", *registry], "prodml serve"),
        (["serve", "churn@1", "--registry", u["db"]], "prodml serve"),
        (["score", "churn@1", "in", "out", *registry], "prodml score"),
        (["score", "churn@1", "in", "out", "--registry", u["db"]], "prodml score"),
        (["store", "views", *store], "prodml store views"),
        (["store", "views", "--db", u["db"]], "prodml store views"),  # --db is not store's
        (["store", "materialize", *store], "prodml store materialize"),
    ]


CASES = [
    pytest.param(pw, argv, prog, place, id=f"{prog.split(' ', 1)[1]}-{i}-{j}-{place}")
    for j, pw in enumerate(PASSWORDS)
    for i, (argv, prog) in enumerate(_commands(pw))
    for place in ("after", "before")
]


@pytest.mark.parametrize(("pw", "argv", "prog", "place"), CASES)
def test_an_unknown_flag_is_named_and_no_password_shown(
    pw: str, argv: list[str], prog: str, place: str, capsys: pytest.CaptureFixture[str]
) -> None:
    words = len(prog.split()) - 1  # the subcommand words, before which a flag is prodml's
    full = [*argv, "--bogus"] if place == "after" else [*argv[:words], "--bogus", *argv[words:]]
    assert cli.main(full) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: {prog}: unrecognized arguments: ")
    assert "--bogus" in err
    assert err.rstrip().endswith(f"(see '{prog} --help')")
    assert SECRET not in err


@pytest.mark.parametrize("pw", PASSWORDS)
@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["{db}"], "argument COMMAND: invalid choice: "),  # quoted as repr() quotes
        (["drift", "a.parquet", "b.parquet", "{db}"], "unrecognized arguments: "),
        (["registry", "--bogus={db}"], ""),  # the unknown flag's value
        # taken for the model: a command's own error, which quotes it as repr() does
        (["registry", "--db", "{db}", "--artifacts", "s3://m/r", "churn", "{db}"], ""),
    ],
)
def test_a_refused_url_is_shown_masked(
    pw: str, argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    urls = _urls(pw)
    assert cli.main([a.format(**urls) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert said in err
    assert SECRET not in err
    if said:  # argparse's own message, which quotes the URL: masked, the rest kept
        assert "bob:***@db:5432/mlops" in err


def test_a_url_not_on_the_command_line_is_still_masked_by_its_shape() -> None:
    # _masked is also given messages about arguments main() did not see (a parser used
    # directly): the URLs it quotes are masked as before.
    message = "unrecognized arguments: postgresql://bob:Zq8SECRETpw@db/x"
    assert cli._masked(message) == "unrecognized arguments: postgresql://bob:***@db/x"


@pytest.mark.parametrize(
    ("argv", "prog", "then"),
    [
        (["store", "online", "--offline", "{db}", "--online", "{redis}", "--bogus"],
         "prodml store online", "the following arguments are required: --entity, --feature"),
        (["store", "apply", "--offline", "{db}", "--online", "{redis}", "--bogus={db}"],
         "prodml store apply", "the following arguments are required: --file"),
        (["--bogus", "{db}", "registry"], "prodml", "argument COMMAND: invalid choice: "),
        (["--bogus={db}"], "prodml", "the following arguments are required: COMMAND"),
    ],
)  # fmt: skip
def test_an_unknown_flag_is_named_before_what_argparse_says_first(
    argv: list[str], prog: str, then: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # argparse checks the required arguments and the command's name before it lists the
    # flags it does not know: "--bogus" went unsaid (or its value was taken for the command).
    pw = f"p'{SECRET}"
    assert cli.main([a.format(**_urls(pw)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {prog}: unrecognized arguments: --bogus; {then}"), err
    assert SECRET not in err


def test_a_known_flag_or_its_prefix_is_not_called_unknown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["store", "online", "--off", "duckdb:///x", "--online=sqlite:///y.db", "--json"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: prodml store online: the following arguments are required")
