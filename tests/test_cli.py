import io

from tessera.cli import main, quickstart


def test_quickstart_trains_checkpoints_and_reloads(tmp_path):
    out = io.StringIO()
    summary = quickstart(epochs=3, checkpoint=str(tmp_path / "q.safetensors"), out=out)
    assert summary["test_accuracy"] > 0.9
    assert summary["reloaded_accuracy"] == summary["test_accuracy"]
    text = out.getvalue()
    assert "epoch  3/3" in text and "test accuracy" in text  # one line per epoch off a terminal


def test_cli_parses_quickstart(tmp_path, capsys):
    assert main(["quickstart", "--epochs", "1", "--checkpoint", str(tmp_path / "c.st")]) == 0
    assert "reloaded" in capsys.readouterr().out
