"""`python -m harness` and the `harness` command. Ctrl-C while Python is still loading the
harness ends quietly with 130, as it does once a command runs (no traceback)."""

import sys


def entry() -> int:
    try:
        from harness.cli import main
    except KeyboardInterrupt:
        return 130
    return main()


if __name__ == "__main__":
    sys.exit(entry())
