"""CLI errors: bad input gets one clear line naming the file or field."""

from typer.testing import CliRunner

from scale_or_reason.cli import app
from scale_or_reason.study import load_study_config

import pytest


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


def test_study_file_errors_name_file_and_key(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('[study]\nname = "x"\nbogus = 1\n[[students]]\nname = "a"\n')
    with pytest.raises(ValueError, match=r"s\.toml: \[study\]: unknown key\(s\) bogus"):
        load_study_config(f)
    f.write_text('[study]\ntrain_per_family = "many"\n[[students]]\nname = "a"\n')
    with pytest.raises(ValueError, match=r"\[study\]\.train_per_family: expected a number"):
        load_study_config(f)
    f.write_text('[study]\narms = ["ift", "cot"]\n[[students]]\nname = "a"\n')
    with pytest.raises(ValueError, match=r"\[study\]\.arms: unknown arm 'cot'"):
        load_study_config(f)
    with pytest.raises(ValueError, match="unknown profile"):
        load_study_config("enormous")
