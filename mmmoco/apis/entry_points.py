"""The ``mmmoco`` command (a console entry point of the installed package): the repository's
tools, run from anywhere, with a config given as a path or as a shipped config's name.

``mmmoco train CONFIG [tools/train.py options]``, ``mmmoco dist-train CONFIG GPUS [...]``,
``mmmoco test CONFIG CHECKPOINT [...]``, ``mmmoco knn-eval CONFIG PRETRAIN GPUS [...]``,
``mmmoco linear-eval CONFIG PRETRAIN GPUS [...]`` and ``mmmoco list [PATTERN]``. Python tools
run in this process; shell tools (one process per device through ``tools/launch.sh``) run under
bash with ``PYTHON`` set to this interpreter, so that they use the environment mmmoco is
installed in.
"""
import argparse
import os
import os.path as osp
import runpy
import subprocess
import sys
from typing import List, NamedTuple, Optional, Sequence

from .shipped import list_configs, resolve_config, tools_root


class Tool(NamedTuple):
    """A sub-command of ``mmmoco``: a script of ``tools/`` whose first argument is a config.

    Args:
        script: The script, relative to the tools folder.
        usage: Its positional arguments.
        summary: One line for ``mmmoco --help``.
    """
    script: str
    usage: str
    summary: str


TOOLS = {
    'train': Tool('train.py', 'CONFIG', 'pretrain (or train a classifier), one process'),
    'dist-train': Tool('dist_train.sh', 'CONFIG GPUS',
                       'the same, one process per device (gloo processes without CUDA)'),
    'test': Tool('test.py', 'CONFIG CHECKPOINT', 'top-1/top-5 of a trained classifier'),
    'knn-eval': Tool('benchmarks/knn_eval.sh', 'CONFIG PRETRAIN GPUS',
                     'weighted kNN on frozen features (PRETRAIN "" for a random init)'),
    'linear-eval': Tool('benchmarks/linear_eval.sh', 'CONFIG PRETRAIN GPUS',
                        'linear evaluation of a frozen pretrained backbone'),
}


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``mmmoco COMMAND [ARGS...]``; ARGS go to the tool unparsed.

    Returns:
        The parser.
    """
    commands = '\n'.join(f'  {name:<12} {tool.usage:<24} {tool.summary}'
                         for name, tool in TOOLS.items())
    parser = argparse.ArgumentParser(
        prog='mmmoco', formatter_class=argparse.RawDescriptionHelpFormatter,
        description='Run the mmmoco tools. CONFIG is a config file or the name of a shipped '
        'config (`mmmoco list`); the other options are the tool\'s own '
        '(`mmmoco train --help`).',
        epilog=f'commands:\n{commands}\n  {"list":<12} {"[PATTERN]":<24} the shipped config '
        'names (shell-style PATTERN, e.g. "*fashionmnist*")')
    parser.add_argument('command', choices=[*TOOLS, 'list'], metavar='COMMAND',
                        help=f'one of {", ".join([*TOOLS, "list"])}')
    parser.add_argument('args', nargs=argparse.REMAINDER, help='the tool\'s arguments')
    return parser


def tool_arguments(command: str, args: Sequence[str]) -> List[str]:
    """A tool's arguments with the config (the first one) resolved to a file.

    Args:
        command: The sub-command, for the error message.
        args: The arguments after the sub-command.

    Returns:
        The arguments, the first replaced by its config file unless it is an option
        (``--help``).

    Raises:
        SystemExit: If the config is neither a file nor a shipped name (one line naming it).
    """
    args = list(args)
    if args and not args[0].startswith('-'):
        try:
            args[0] = resolve_config(args[0])
        except (FileNotFoundError, ValueError) as error:
            raise SystemExit(f'mmmoco {command}: {error}') from None
    return args


def run_tool(command: str, args: Sequence[str]) -> int:
    """Run a sub-command's script with its arguments.

    Args:
        command: A key of :data:`TOOLS`.
        args: The tool's arguments, config resolved.

    Returns:
        The exit status (0 when a Python tool returns).

    Raises:
        SystemExit: If the tools folder is missing (one line naming it).
    """
    try:
        script = osp.join(tools_root(), TOOLS[command].script)
    except FileNotFoundError as error:
        raise SystemExit(f'mmmoco {command}: {error}') from None
    if script.endswith('.sh'):
        env = dict(os.environ, PYTHON=sys.executable)
        return subprocess.run(['bash', script, *args], env=env).returncode
    sys.argv = [script, *args]
    runpy.run_path(script, run_name='__main__')
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``mmmoco`` command.

    Args:
        argv: The arguments after ``mmmoco``; default the command line.

    Returns:
        The exit status.

    Raises:
        SystemExit: On a usage error, an unknown config or a missing configs or tools
            folder, with one line naming it.
    """
    parsed = build_parser().parse_args(argv)
    if parsed.command == 'list':
        if len(parsed.args) > 1:
            raise SystemExit(f'mmmoco list: at most one PATTERN, got {parsed.args}')
        try:
            names = list_configs(*parsed.args)
        except FileNotFoundError as error:
            raise SystemExit(f'mmmoco list: {error}') from None
        if not names:
            raise SystemExit(f'mmmoco list: no shipped config matches {parsed.args[0]!r}')
        print('\n'.join(names))
        return 0
    return run_tool(parsed.command, tool_arguments(parsed.command, parsed.args))


if __name__ == '__main__':
    sys.exit(main())
