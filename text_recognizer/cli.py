"""The console command: `text-recognizer read|train|select|export|serve [FLAGS]`.

Each command runs the main() of a documented script with the same flags (its --help is the script's):

    text-recognizer read FILE...   python text_recognizer/paragraph_text_recognizer.py FILE...
    text-recognizer train          python training/run_experiment.py
    text-recognizer select         python training/save_best_model.py
    text-recognizer export         python training/export_model.py
    text-recognizer serve          python -m text_recognizer.api_server (make serve)

A command's module is imported only when it runs: reading never loads the training stack.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

PROG = "text-recognizer"
SERVER_MODULE = "text_recognizer.api_server.__main__"  # python -m text_recognizer.api_server


class Command(NamedTuple):
    module: str
    help: str
    extra: str  # the pip extra that installs what the command needs beyond reading ("" for none)
    takes_prog: bool  # whether its main() takes prog= (else its usage line is named through sys.argv[0])


COMMANDS = {
    "read": Command("text_recognizer.paragraph_text_recognizer", "print the text of each handwritten page image", "", False),
    "train": Command("text_recognizer.training.run_experiment", "train a model (training/run_experiment.py)", "train", True),
    "select": Command("text_recognizer.training.save_best_model",
                      "write the best run's model into the artifacts (training/save_best_model.py)", "train", True),
    "export": Command("text_recognizer.training.export_model", "export a paragraph model to ONNX (training/export_model.py)",
                      "train", True),
    "serve": Command(SERVER_MODULE, "serve the REST API and web page (python -m text_recognizer.api_server)", "serve",
                     True),
}


def build_parser() -> argparse.ArgumentParser:
    from text_recognizer import __version__

    parser = argparse.ArgumentParser(
        prog=PROG, description="Read handwritten pages, and train, select, export and serve the models that read them.",
        epilog=f"`{PROG} COMMAND --help` lists a command's flags.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        commands.add_parser(name, help=command.help, add_help=False)
    return parser


def _missing_module_message(name: str, command: Command, error: ModuleNotFoundError) -> str:
    missing = (error.name or "").split(".")[0]
    hint = f": pip install 'text_recognizer[{command.extra}]'" if command.extra else ""
    return f"`{PROG} {name}` needs {missing or error}, which is not installed{hint}"


def run_command(name: str, argv: list[str]) -> int:
    """Run command `name`'s main() with `argv` (its flags); its usage line says `text-recognizer NAME`."""
    command = COMMANDS[name]
    prog = f"{PROG} {name}"
    try:
        main: Callable[..., Any] = importlib.import_module(command.module).main
        if command.takes_prog:
            # sys.argv stays as it is: a DDP run starts its other processes with the same command line.
            return int(main(argv, prog=prog) or 0)
        saved = sys.argv[0]
        sys.argv[0] = prog  # argparse names the program after sys.argv[0]
        try:
            return int(main(argv) or 0)
        finally:
            sys.argv[0] = saved
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] == "text_recognizer":
            raise  # a bug of the package, not a missing dependency
        print(f"error: {_missing_module_message(name, command, error)}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in COMMANDS:  # the command's own parser reads the rest, --help included
        return run_command(argv[0], argv[1:])
    parser = build_parser()
    parser.parse_args(argv)  # --help, --version, or an error that lists the commands
    parser.print_help(sys.stderr)  # no command given
    return 2


if __name__ == "__main__":
    sys.exit(main())
