"""text-recognizer COMMAND: the documented scripts' mains under one console command (issue 34)."""
import sys

import pytest

from text_recognizer import cli


def help_of(main, capsys, *args, **kwargs) -> str:
    with pytest.raises(SystemExit) as stop:
        main([*args, "--help"], **kwargs)
    assert stop.value.code == 0
    return capsys.readouterr().out


def test_a_commands_help_is_its_scripts_under_the_commands_name(capsys):
    from text_recognizer.training import export_model

    script = help_of(export_model.main, capsys, prog="export_model.py")
    command = help_of(cli.main, capsys, "export")
    same = " ".join(script.replace("export_model.py", "text-recognizer export").split())  # the usage wraps differently
    assert " ".join(command.split()) == same
    assert "--model_path" in script


def test_the_command_list_and_unknown_commands(capsys):
    listing = help_of(cli.main, capsys)
    assert all(name in listing for name in cli.COMMANDS)
    with pytest.raises(SystemExit) as stop:
        cli.main(["bogus"])
    assert stop.value.code == 2 and "invalid choice: 'bogus'" in capsys.readouterr().err
    assert cli.main([]) == 2


def test_a_missing_dependency_is_one_line_naming_its_extra(capsys, monkeypatch):
    monkeypatch.setitem(cli.COMMANDS, "train", cli.Command("no_such_package.module", "", "train", True))
    assert cli.main(["train"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no_such_package" in err and "text_recognizer[train]" in err
    # The server is in the package; what it may lack is the [serve] extra (fastapi is imported when it runs).
    for module in ("fastapi", cli.SERVER_MODULE, "text_recognizer.api_server.app"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    monkeypatch.setitem(sys.modules, "fastapi", None)  # import fastapi: ModuleNotFoundError
    assert cli.main(["serve", "--help"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs fastapi" in err and "text_recognizer[serve]" in err


def test_serve_is_the_packaged_servers_main(capsys):
    assert cli.COMMANDS["serve"].module == "text_recognizer.api_server.__main__"
    assert "usage: text-recognizer serve" in help_of(cli.main, capsys, "serve")
