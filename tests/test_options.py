"""Configs declared once: each CLI setting of `sor generate|train|evaluate|pairs` is a config field, with the
field's docstring as its help, and what is given reaches the config."""

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import typer
from typer.testing import CliRunner

from scale_or_reason.cli import app
from scale_or_reason.evaluate.runner import EvalConfig, GenerationBackendConfig
from scale_or_reason.options import config_options, field_docs
from scale_or_reason.study.config import ComputeSection
from scale_or_reason.teacher.exchange import ExportConfig, ImportConfig
from scale_or_reason.teacher.config import GenerateConfig
from scale_or_reason.train import TrainConfig

# What a command takes that is not a setting: its data, where it writes, how it prints.
NOT_SETTINGS = {
    "generate": {"config", "no_progress", "as_json"},
    "train": {"pairs", "arm", "out", "student_config", "pretrained", "tokenizer", "name", "samples"},
    "evaluate": {"benchmarks", "prepared", "out", "thinking", "jury", "as_json"},
    "pairs import": {"source", "out", "no_progress"},
    "pairs export": {"store", "out"},
    "study plan": {"config", "out", "tasks", "as_json"},
}
CONFIGS = {"generate": [GenerateConfig], "train": [TrainConfig], "evaluate": [EvalConfig, GenerationBackendConfig],
           "pairs import": [ImportConfig], "pairs export": [ExportConfig], "study plan": [ComputeSection]}
SKIPPED = {"generate": {"progress"}}  # --no-progress says it once for every command


def _command(path: str):
    cmd = typer.main.get_command(app)
    for part in path.split():
        cmd = cmd.commands[part]
    return cmd


def test_every_setting_option_is_a_config_field_with_its_docstring_as_help():
    for path, classes in CONFIGS.items():
        params = {p.name: p for p in _command(path).params}
        fields = {f.name: (cls, f) for cls in classes for f in dataclasses.fields(cls)
                  if f.name not in SKIPPED.get(path, set())}
        assert set(params) == set(fields) | NOT_SETTINGS[path], path
        for name, (cls, f) in fields.items():
            doc = field_docs(cls)[name].replace("``", "")
            assert params[name].help.startswith(doc[:40]), (path, name)


def test_field_docs_reads_each_fields_own_string_including_inherited_fields():
    from scale_or_reason.study.config import BaseSection

    docs = field_docs(BaseSection)
    assert docs["learning_rate"].startswith("Peak learning rate of the base stage")
    assert docs["option_drills"].startswith("Option-matching drills")  # from CorpusConfig, its base class
    assert set(field_docs(GenerateConfig)) == {f.name for f in dataclasses.fields(GenerateConfig)}


@dataclass
class _Demo:
    rate: float = 0.5
    """How fast."""
    names: list[str] = field(default_factory=list)
    """Some names."""
    loud: bool = False
    """Shout."""
    where: Path = Path("x")
    """A place."""


def test_given_options_reach_the_config_and_the_rest_keep_its_defaults(tmp_path):
    seen = {}
    demo = typer.Typer()

    @demo.command()
    @config_options(_Demo)
    def run(tag: str = typer.Option("t"), overrides: dict | None = None) -> None:
        seen["cfg"], seen["tag"] = _Demo(**overrides), tag

    runner = CliRunner()
    res = runner.invoke(demo, ["--rate", "2", "--names", "a, b,,c", "--loud", "--where", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert seen["cfg"] == _Demo(rate=2.0, names=["a", "b", "c"], loud=True, where=tmp_path) and seen["tag"] == "t"
    res = runner.invoke(demo, ["--no-loud"])
    assert res.exit_code == 0 and seen["cfg"] == _Demo()
    res = runner.invoke(demo, ["--rate", "fast"])
    assert res.exit_code == 2 and "rate" in res.output
    helps = {p.name: p.help for p in typer.main.get_command(demo).params}
    assert helps["rate"] == "How fast. [default: 0.5]" and helps["loud"] == "Shout."


def test_a_generate_option_reaches_the_run_and_a_bad_one_is_one_line(tmp_path):
    res = CliRunner().invoke(app, ["generate", "--source", "synthetic:Math-OE:5", "--out", str(tmp_path / "p"),
                                   "--shard-size", "2", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "p").glob("*.parquet"))) == 3  # 5 pairs at 2 per shard
    res = CliRunner().invoke(app, ["generate", "--source", "synthetic:Math-OE:5", "--out", str(tmp_path / "q"),
                                   "--limit", "0"])
    assert res.exit_code == 2 and "limit: must be an integer >= 1, got 0" in res.output
    res = CliRunner().invoke(app, ["study", "plan", "quick", "--out", str(tmp_path / "s"), "--mfu-train", "1.5"])
    assert res.exit_code == 2 and "an MFU is a fraction of the peak, at most 1" in res.output  # the file's bound
    res = CliRunner().invoke(app, ["study", "plan", "quick", "--out", str(tmp_path / "s"), "--peak-flops", "2e15"])
    assert res.exit_code == 0 and "2e+15 FLOP/s" in res.output


def test_the_pair_exchange_functions_take_their_configs_defaults():
    """``import_pairs`` / ``export_pairs`` keywords are ``ImportConfig`` / ``ExportConfig`` fields with the same
    defaults, so the library and ``sor pairs import|export`` behave alike."""
    import inspect

    from scale_or_reason.teacher.exchange import export_pairs, import_pairs

    for fn, cls in ((import_pairs, ImportConfig), (export_pairs, ExportConfig)):
        params = inspect.signature(fn).parameters
        for f in dataclasses.fields(cls):
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default
            assert f.name in params, (fn.__name__, f.name)
            given = params[f.name].default
            assert (list(given) if isinstance(default, list) else given) == default, (fn.__name__, f.name)
