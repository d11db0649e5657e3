"""text-recognizer COMMAND: the documented scripts' mains under one console command (issue 34)."""
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


def test_a_missing_dependency_or_server_is_one_line(capsys, monkeypatch):
    monkeypatch.setitem(cli.COMMANDS, "train", cli.Command("no_such_package.module", "", "train", True))
    assert cli.main(["train"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no_such_package" in err and "text_recognizer[train]" in err
    monkeypatch.setattr(cli, "SERVER_MODULE", "no_such_server.__main__")
    monkeypatch.setitem(cli.COMMANDS, "serve", cli.Command("no_such_server.__main__", "", "serve", False))
    assert cli.main(["serve"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "server (no_such_server) is not installed" in err
