"""``python -m labkit COMMAND ...``: one entry point, each command implemented in its own module.

A mistake on the command line ends with one ``error: ...`` line on stderr and exit status 2 (see :mod:`labkit.cli`);
``--debug`` anywhere on the line shows the Python traceback instead.
"""

from __future__ import annotations

import importlib
import sys

from labkit import cli

# command -> (module, one-line help). Each module exposes ``main(argv: list[str]) -> int``.
COMMANDS: dict[str, tuple[str, str]] = {
    "toy": ("labkit.experiments.toy.cli", "train the 8-identity, 2-D-feature toy model (Fig. 4) or its sweep"),
    "data": ("labkit.data.cli", "get, check and align face data sets"),
    "train": ("labkit.train_cli", "train a face model (SphereFace-style nets, any margin head)"),
    "eval": ("labkit.evaluate.cli", "evaluate a model on LFW, any pairs file, YTF or MegaFace-style identification"),
    "faces": ("labkit.faces.cli", "detect faces and their 5 landmarks in any photo (MTCNN, Sec. 4.1)"),
    "verify": ("labkit.verify_cli", "are two photos the same person? detect, align, embed, compare"),
    "export": ("labkit.export_cli", "export a lab network to ONNX"),
}


def _usage() -> str:
    lines = ["usage: python -m labkit COMMAND [ARGS] [--debug]", "", "commands:"]
    lines += [f"  {name:<6} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "`python -m labkit COMMAND --help` lists a command's options; --debug shows the traceback on errors."]
    return "\n".join(lines)


def _dispatch(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        raise cli.UsageError(f"unknown command {name!r}; choose one of {', '.join(COMMANDS)} "
                             "(`python -m labkit --help` describes them)")
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m labkit`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    return cli.run(_dispatch, argv)


if __name__ == "__main__":
    sys.exit(main())
