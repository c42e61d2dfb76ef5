"""``python -m prodml``: the ``prodml`` command.

For an environment whose scripts folder is not on ``PATH``.
"""

from __future__ import annotations

import sys

from prodml.cli import main

if __name__ == "__main__":
    sys.exit(main())
