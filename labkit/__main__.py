"""``python -m labkit COMMAND ...``: one entry point, each command implemented in its own module."""

from __future__ import annotations

import importlib
import sys

# command -> (module, one-line help). Each module exposes ``main(argv: list[str]) -> int``.
COMMANDS: dict[str, tuple[str, str]] = {
    "toy": ("labkit.experiments.toy.cli", "train the 8-identity, 2-D-feature toy model (Fig. 4) or its sweep"),
    "data": ("labkit.data.cli", "get, check and align face data sets"),
    "train": ("labkit.train", "train a face model (SphereFace-style nets, any margin head)"),
    "eval": ("labkit.evaluate.cli", "evaluate a checkpoint on LFW, YTF or MegaFace-style identification"),
}


def _usage() -> str:
    lines = ["usage: python -m labkit COMMAND [ARGS]", "", "commands:"]
    lines += [f"  {name:<6} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
