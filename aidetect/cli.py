"""The `aidetect` command line: one entrypoint for every component and for users."""

import argparse
import sys
from collections.abc import Sequence

from aidetect import __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subcommand per component or user action."""
    parser = argparse.ArgumentParser(
        prog="aidetect", description="AI-generated-text detection as Kubernetes jobs."
    )
    parser.add_argument("--version", action="version", version=f"aidetect {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("version", help="print the version and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command named on the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "version":
        sys.stdout.write(f"aidetect {__version__}\n")
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
