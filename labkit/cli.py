"""What every ``python -m labkit ...`` command shares: how a mistake on the command line is reported.

A usage error (a bad option value, an unknown name, a missing file or data set) ends the command with ONE line on
stderr, ``error: <what was wrong>; <how to fix it>``, and exit status 2, never a Python traceback. Add ``--debug``
anywhere on the command line (or set ``LABKIT_DEBUG=1``) to get the full traceback instead.

The pieces:

- :class:`UsageError`: raise it from a command for anything the user can fix by changing the command line.
- :func:`usage_errors`: a context manager turning the ``ValueError`` of an argument check (for instance a head
  rejecting ``m=-1``) into a :class:`UsageError`.
- :class:`ArgumentParser`: ``argparse`` whose errors are one line too (argparse's own usage block is dropped).
- :func:`run` / :func:`command`: call a command's ``main(argv)``, map :class:`UsageError` and
  :class:`labkit.config.DataMissingError` to one line + exit 2, and honour ``--debug``.
- Small ``type=`` helpers for argparse (:func:`positive_int`, :func:`nonnegative_int`, :func:`positive_float`).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import NoReturn

from labkit.config import DataMissingError

EXIT_USAGE = 2
DEBUG_FLAG = "--debug"
DEBUG_ENV = "LABKIT_DEBUG"
DEBUG_HELP = "on an error, show the full Python traceback instead of the one-line message"

MainFunction = Callable[[list[str]], "int | None"]

# set while a --debug run is in progress, so that a command's own wrapper (nested inside the one of
# ``python -m labkit``) still re-raises after the outer wrapper has removed the flag from argv
_debug_active = False


class UsageError(Exception):
    """The command line cannot be used as given. The message says what was wrong and how to fix it, in one line."""


def one_line(message: object) -> str:
    """``message`` as a single line, nothing dropped: its lines are stripped and joined, with a space after a line
    that ends in punctuation and ``"; "`` otherwise (so that two commands on two lines stay apart)."""
    out = ""
    for line in (part.strip() for part in str(message).splitlines()):
        if line:
            out += ("" if not out else " " if out[-1] in ".,:;!?" else "; ") + line
    return out


@contextlib.contextmanager
def usage_errors(prefix: str = "") -> Iterator[None]:
    """Within the block, a ``ValueError`` (an argument check failing) becomes a :class:`UsageError`.

    ``prefix`` names what was being checked, e.g. ``"--m/--s for head cosface: "``.
    """
    try:
        yield
    except UsageError:
        raise
    except ValueError as exc:
        raise UsageError(f"{prefix}{exc}") from exc


def _debug_requested(argv: Sequence[str]) -> tuple[list[str], bool]:
    """``argv`` without ``--debug`` (only before a ``--`` separator), and whether it was there."""
    out: list[str] = []
    found = False
    for i, arg in enumerate(argv):
        if arg == "--":
            out += list(argv[i:])
            break
        if arg == DEBUG_FLAG:
            found = True
        else:
            out.append(arg)
    return out, found


def _env_debug() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0", "false", "no")


def report(exc: BaseException, stream=None) -> None:
    """Print ``error: <message>`` as one line on ``stream`` (stderr by default)."""
    text = one_line(exc) or type(exc).__name__
    print(f"error: {text}", file=stream or sys.stderr, flush=True)


def run(main: MainFunction, argv: Sequence[str] | None = None) -> int:
    """Run ``main(argv)`` as a command and return its exit status.

    ``--debug`` is removed from ``argv`` (default ``sys.argv[1:]``) before ``main`` sees it. Without it, a
    :class:`UsageError` or :class:`labkit.config.DataMissingError` is printed as one line on stderr and the status
    is 2; with it (or ``LABKIT_DEBUG=1``) the exception propagates and Python prints the traceback.
    """
    global _debug_active
    args, flag = _debug_requested(list(sys.argv[1:] if argv is None else argv))
    debug = _debug_active or flag or _env_debug()
    previous, _debug_active = _debug_active, debug
    try:
        return int(main(args) or 0)
    except (UsageError, DataMissingError) as exc:
        if debug:
            raise
        report(exc)
        return EXIT_USAGE
    finally:
        _debug_active = previous


def command(main: MainFunction) -> Callable[[Sequence[str] | None], int]:
    """Decorator: ``main(argv)`` called through :func:`run`, so it returns 2 with one line on a usage error."""

    @functools.wraps(main)
    def wrapper(argv: Sequence[str] | None = None) -> int:
        return run(main, argv)

    wrapper.unwrapped = main  # type: ignore[attr-defined]
    return wrapper


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` for labkit commands.

    An error prints one line, ``<prog>: error: <message> (see <prog> --help)``, and exits with status 2. Every
    parser (sub-command parsers too) documents ``--debug`` in its help; :func:`run` removes the flag from the
    command line before parsing, so the option itself is never set.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.add_help:
            self.add_argument(DEBUG_FLAG, action="store_true", help=DEBUG_HELP)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)} (see `{self.prog} --help`)\n")

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        ns = super().parse_args(args, namespace)
        if hasattr(ns, "debug"):
            delattr(ns, "debug")
        return ns


def _number(text: str, kind: type, what: str) -> float | int:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return value


def positive_int(text: str) -> int:
    """argparse ``type=``: an integer >= 1."""
    value = int(_number(text, int, "an integer >= 1"))
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer >= 1")
    return value


def nonnegative_int(text: str) -> int:
    """argparse ``type=``: an integer >= 0."""
    value = int(_number(text, int, "an integer >= 0"))
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer >= 0")
    return value


def positive_float(text: str) -> float:
    """argparse ``type=``: a finite number > 0."""
    value = float(_number(text, float, "a finite number > 0"))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number > 0")
    return value
