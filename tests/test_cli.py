"""The command line: every subcommand's --help lists its options with their help; --version."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import re

import pytest

from crosspoint import cli


def help_of(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 0
    return capsys.readouterr().out


def stage_options(module: str) -> list[argparse.Action]:
    """The options a stage module adds (through its ``add_arguments``)."""
    parser = argparse.ArgumentParser(add_help=False)
    add = getattr(importlib.import_module(module), "add_arguments", None)
    if add is not None:
        add(parser)
    return list(parser._actions)  # noqa: SLF001 - argparse keeps no public list


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_subcommand_help_lists_every_option_with_its_help(capsys, command):
    text = help_of(capsys, [command, "--help"])
    assert f"usage: crosspoint {command}" in text and "--params" in text
    for action in stage_options(cli.COMMANDS[command][0]):
        assert action.help, f"{command}: option {action.option_strings or action.dest} has no help text"
        for name in action.option_strings or [action.dest]:
            assert re.search(rf"(^|\s){re.escape(name)}\b", text), f"{command} --help lacks {name}"


def test_prepare_help_names_the_dataset_option(capsys):
    text = help_of(capsys, ["prepare", "--help"])
    assert "--dataset DATASET" in text and "name of an entry under datasets" in text


def test_top_level_help_lists_the_commands_and_version(capsys):
    text = help_of(capsys, ["--help"])
    assert all(name in text for name in cli.COMMANDS) and "--version" in text
    assert help_of(capsys, ["--version"]).strip() == f"crosspoint {importlib.metadata.version('crosspoint')}"
    assert cli.command_in(["-v", "sample", "--dataset", "x"]) == "sample"
    assert cli.command_in(["--help"]) is None and cli.command_in(["nope"]) is None


def test_errors_are_one_line_and_exit_2(capsys, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("datasets: [\n")  # not YAML
    assert cli.main(["check-params", "--params", str(params)]) == 2
    assert capsys.readouterr().err.startswith("error: ")
