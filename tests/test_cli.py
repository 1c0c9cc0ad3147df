"""CLI errors: bad input gets one clear line naming the file or field."""

from typer.testing import CliRunner

from scale_or_reason.cli import app



def test_flops_on_a_broken_config_names_the_file(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    res = CliRunner().invoke(app, ["flops", "--model-config", str(bad), "--prompt-tokens", "3", "--json"])
    assert res.exit_code == 2
    assert str(bad) in res.output


def test_flops_lengths_file_totals(tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text('{"model_type": "qwen3", "vocab_size": 100, "hidden_size": 16, "intermediate_size": 32,'
                   ' "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8}')
    rows = tmp_path / "lengths.csv"
    rows.write_text("prompt_tokens,generated_tokens\n10,5\n20,7\n")
    runner = CliRunner()
    one = [runner.invoke(app, ["flops", "--model-config", str(cfg), "--prompt-tokens", p, "--generated-tokens", g,
                               "--json"]) for p, g in (("10", "5"), ("20", "7"))]
    both = runner.invoke(app, ["flops", "--model-config", str(cfg), "--lengths", str(rows), "--json"])
    import json

    total = json.loads(both.stdout)
    assert total["samples"] == 2
    assert total["inference_flops"] == sum(json.loads(r.stdout)["inference_flops"] for r in one)
    rows.write_text("prompt_tokens,answer\n1,2\n")
    res = runner.invoke(app, ["flops", "--model-config", str(cfg), "--lengths", str(rows)])
    assert res.exit_code == 2 and "generated_tokens" in res.output


def test_study_file_errors_exit_2_with_one_line(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('[study]\nname = "x"\nbogus = 1\n')
    res = CliRunner().invoke(app, ["study", "plan", str(f)])
    assert res.exit_code == 2 and "s.toml: [study]: unknown key(s) bogus" in " ".join(res.output.split())
    res = CliRunner().invoke(app, ["study", "run", "enormous"])
    assert res.exit_code == 2 and "unknown study 'enormous'" in res.output


def _one_line_error(res, *expected):
    text = " ".join(res.output.split())
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit), res.output  # no traceback
    message = text[text.index("error: "):]  # after any progress line
    assert all(e in message for e in expected), text


def test_hostile_flops_inputs_get_one_line_errors(tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text('{"model_type": "qwen3", "vocab_size": 100, "hidden_size": 16, "intermediate_size": 32,'
                   ' "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8}')
    runner = CliRunner()
    empty, text, half = tmp_path / "empty.csv", tmp_path / "text.csv", tmp_path / "half.csv"
    empty.write_text("")
    text.write_text("prompt_tokens,generated_tokens\n3,4\nabc,5\n")
    half.write_text("prompt_tokens,generated_tokens\n3,4.5\n")
    for f, expected in ((empty, ["empty.csv: not a readable CSV table"]),
                        (text, ["text.csv: row 2: prompt_tokens 'abc' is not a token count"]),
                        (half, ["half.csv: row 1: generated_tokens 4.5 is not a token count"])):
        _one_line_error(runner.invoke(app, ["flops", "--model-config", str(cfg), "--lengths", str(f)]), *expected)
    zero = tmp_path / "zero.json"
    zero.write_text(cfg.read_text().replace('"num_attention_heads": 2', '"num_attention_heads": 0'))
    _one_line_error(runner.invoke(app, ["flops", "--model-config", str(zero), "--prompt-tokens", "3"]),
                    "zero.json", "'num_attention_heads' must be positive, got 0")


def test_generate_errors_keep_brackets_and_name_the_field(tmp_path, monkeypatch):
    runner = CliRunner()
    monkeypatch.chdir(tmp_path)  # the default --out is ./pairs
    _one_line_error(runner.invoke(app, ["generate", "--source", str(tmp_path / "[/x].jsonl")]),
                    f"{tmp_path}/[/x].jsonl: no such prompt file")
    assert not (tmp_path / "pairs").exists()  # a bad source leaves no empty store behind
    g = tmp_path / "g.toml"
    g.write_text("[generate]\nmax_retires = 3\n")
    _one_line_error(runner.invoke(app, ["generate", "--config", str(g), "--source", "x"]),
                    "g.toml: unknown key generate.max_retires")


def test_verbose_prints_the_toolkits_info_logs(tmp_path, monkeypatch):
    """``sor --verbose`` turns on the toolkit's INFO logs (and tells the study executor to keep library bars);
    without it they stay off."""
    import logging
    import os

    from typer.testing import CliRunner

    from scale_or_reason.cli import app

    monkeypatch.delenv("SOR_VERBOSE", raising=False)
    root = logging.getLogger()
    saved = (root.level, list(root.handlers), logging.getLogger("scale_or_reason").level)
    try:
        quiet = CliRunner().invoke(app, ["bench", "list"])
        assert quiet.exit_code == 0, quiet.output
        assert logging.getLogger("scale_or_reason").getEffectiveLevel() > logging.INFO
        loud = CliRunner().invoke(app, ["--verbose", "bench", "list"])
        assert loud.exit_code == 0, loud.output
        assert logging.getLogger("scale_or_reason").getEffectiveLevel() == logging.INFO
        assert os.environ.get("SOR_VERBOSE") == "1"
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        logging.getLogger("scale_or_reason").setLevel(saved[2])
        os.environ.pop("SOR_VERBOSE", None)
