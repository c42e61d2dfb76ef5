"""The ``prodml`` command's entry point: the console script and ``python -m prodml``.

``[project.scripts]`` points the ``prodml`` console script at :func:`main`. Importing this
module loads nothing but :mod:`prodml` itself, whose first statement, in the command,
makes a Ctrl-C print ``interrupted`` rather than a traceback; :func:`main` then imports
the command's modules (argparse, pathlib, the subcommands) under that handling, until
:func:`prodml.cli.main` catches Ctrl-C itself.
"""

from __future__ import annotations

import sys


def main() -> int:
    """Run the ``prodml`` command on ``sys.argv``; return its exit code.

    Returns
    -------
    int
        The exit code (see :mod:`prodml.cli`).
    """
    from prodml.cli import main as run  # noqa: PLC0415 - under the start-up Ctrl-C handling

    return run()


if __name__ == "__main__":
    sys.exit(main())
