"""The ``edgegru`` command line (click). Thin: each command parses options into a config and calls
the library (docs/architecture.md#cli-and-pipeline). Heavy imports live inside the commands so
``--help`` is instant.

Exit codes: 0 ok, 1 a check failed, 2 bad input (one clear line on stderr, no traceback).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from edgegru import __version__
from edgegru.errors import BadInput, CheckFailed

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2


# Every character str.splitlines() breaks at, shown escaped instead.
_BREAKS = {ord(c): repr(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


def one_line(error: Exception) -> str:
    """The message on one line: a user's value quoted in it may hold line breaks."""
    return str(error).translate(_BREAKS)


class EdgegruGroup(click.Group):
    """Turns the library's errors into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CheckFailed as e:
            click.echo(f"check failed: {one_line(e)}", err=True)
            sys.exit(EXIT_CHECK_FAILED)
        except BadInput as e:
            click.echo(f"error: {one_line(e)}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except RecursionError:
            # only input nested thousands of levels deep gets here (JSON, TOML); the readers
            # name their file, this is the last line of defence
            click.echo("error: an input file is nested too deeply to read", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:
            click.echo("interrupted (a training run continues with --resume)", err=True)
            sys.exit(130)


@click.group(cls=EdgegruGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgegru")
def main() -> None:
    """edgegru: ship compact GRU / LSTM / peephole-LSTM models to the edge.

    \b
    Train on a shipped dataset or your own arrays, then evaluate:
      edgegru datasets
      edgegru train --dataset watch --cell gru --hidden 32 -o runs/gru32
      edgegru evaluate runs/gru32
    """


# Explicit registration of every command (one file each).
from edgegru.cli import (  # noqa: E402
    check_cmd,
    datasets_cmd,
    distill_cmd,
    evaluate_cmd,
    export_cmd,
    import_cmd,
    info_cmd,
    pipeline_cmd,
    prune_cmd,
    quantize_cmd,
    report_cmd,
    sweep_cmd,
    targets_cmd,
    train_cmd,
)

for _module in (
    datasets_cmd,
    train_cmd,
    evaluate_cmd,
    info_cmd,
    import_cmd,
    prune_cmd,
    distill_cmd,
    quantize_cmd,
    export_cmd,
    check_cmd,
    targets_cmd,
    pipeline_cmd,
    sweep_cmd,
    report_cmd,
):
    main.add_command(_module.command)
