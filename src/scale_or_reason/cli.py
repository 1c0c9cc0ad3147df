"""The ``sor`` command line: parses arguments and dispatches to the stage modules, nothing more.

Example::

    sor demo --profile quick --out sor-study
    sor flops --model-config sor-study/runs/s4-ift/config.json --prompt-tokens 60 --generated-tokens 120 --json
    sor analyze sor-study --json
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="scale-or-reason: should you train a bigger IFT student or a smaller reasoning one?")
err = Console(stderr=True)


def _fail(message: str) -> None:
    err.print(f"[red]error:[/] {message}")
    raise typer.Exit(2)


@app.command()
def demo(
    profile: str = typer.Option("default", help="Embedded profile: 'default' (~15 min on 2 cores), 'quick' (<3 min) or 'curriculum' (all ρ, 2 sizes)."),
    out: Path = typer.Option(Path("sor-study"), help="Study directory (created; a rerun reuses finished stages)."),
) -> None:
    """Run the embedded study end to end and print where the report is."""
    from .study import run_demo

    try:
        summary = run_demo(out=out, profile=profile)
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    t = summary["timings"]
    err.print("wall seconds per stage: " + ", ".join(f"{k} {v:.0f}" for k, v in t.items()))
    err.print(f"results table: {summary['results']}")
    typer.echo(f"Report: {summary['report']}")


@app.command()
def study(
    config: Path = typer.Argument(..., help="Study file (TOML), see the profiles shipped with the package."),
    out: Path = typer.Option(Path("sor-study"), help="Study directory."),
) -> None:
    """Run (or resume) the study described by a TOML file."""
    from .study import load_study_config, run_study

    try:
        summary = run_study(load_study_config(config), out)
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    typer.echo(f"Report: {summary['report']}")


@app.command()
def train(
    pairs: Path = typer.Option(..., help="Pair store directory (Parquet shards of PairedSample)."),
    arm: str = typer.Option(..., help="ift | reasoning | sequential:RHO | mixed:RHO"),
    out: Path = typer.Option(..., help="Run directory (checkpoint, order, ledger); a rerun resumes or skips."),
    student_config: Path = typer.Option(None, help="HF config (JSON) of a student built from scratch."),
    pretrained: str = typer.Option(None, help="Checkpoint directory (or hub id where a hub is reachable)."),
    tokenizer: Path = typer.Option(None, help="Tokenizer directory (default: the --pretrained checkpoint)."),
    name: str = typer.Option(None, help="Student label (default: the checkpoint or config file name)."),
    samples: int = typer.Option(0, min=0, help="Samples in the arm (0: every pair)."),
    lr: float = typer.Option(None, help="Peak LR (default: the paper's Table 2 for known students, else 1e-3)."),
    batch_size: int = typer.Option(32, min=1, help="Global batch in samples."),
    micro_batch_size: int = typer.Option(8, min=1, help="Samples per forward pass (gradient accumulation fills the rest)."),
    epochs: int = typer.Option(1, min=1),
    save_steps: int = typer.Option(0, min=0, help="Checkpoint every K steps, for resuming."),
    lora_rank: int = typer.Option(0, min=0, help="LoRA rank (0: full fine-tuning)."),
    seed: int = typer.Option(0),
) -> None:
    """Fine-tune one student on one arm of a pair store (runs under `accelerate launch` unchanged)."""
    from .data import Arm, build_arm
    from .teacher.store import read_pairs
    from .train import StudentSpec, TrainConfig, train_student
    from .util import read_json

    if (student_config is None) == (pretrained is None):
        _fail("give exactly one of --student-config and --pretrained")
    tok_dir = tokenizer or (Path(pretrained) if pretrained else None)
    if tok_dir is None:
        _fail("--tokenizer is required with --student-config")
    try:
        arm_obj = Arm.parse(arm)
        all_pairs = read_pairs(pairs)
        config = read_json(student_config) if student_config else {}
        spec = StudentSpec(name=name or Path(pretrained or student_config).stem, config=config, pretrained=pretrained,
                           learning_rate={})
        chosen = build_arm(all_pairs, arm_obj, samples or len(all_pairs), seed=seed)
        cfg = TrainConfig(batch_size=batch_size, micro_batch_size=min(micro_batch_size, batch_size), epochs=epochs,
                          save_steps=save_steps, lora_rank=lora_rank, seed=seed)
        if lr is not None:
            cfg.learning_rate = lr
            spec.learning_rate = {"ift": lr, "reasoning": lr}
        ledger = train_student(spec, arm_obj.name, chosen, tok_dir, out, cfg, tokenizer_id=str(tok_dir))
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    typer.echo(json.dumps(ledger))


@app.command()
def flops(
    model_config: Path = typer.Option(None, help="A Hugging Face config.json (or the folder holding it)."),
    prompt_tokens: int = typer.Option(0, min=0, help="Prompt length P."),
    generated_tokens: int = typer.Option(0, min=0, help="Generated length G."),
    lengths: Path = typer.Option(None, help="CSV/JSONL of many (prompt_tokens, generated_tokens) rows: prints totals."),
    study: Path = typer.Option(None, help="A study directory: print each run's ledger (training, evaluation, teacher)."),
    convention: str = typer.Option("paper", help="paper | exact | 6nd"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """FLOPs of one training step on a P+G sample and of inference (prefill P, then G decode steps)."""
    from . import flops as F

    if convention not in F.CONVENTIONS:
        _fail(f"--convention must be one of {', '.join(F.CONVENTIONS)}, got {convention!r}")
    if study is not None:
        from .study import study_ledgers

        try:
            rows = study_ledgers(study, convention)
        except (FileNotFoundError, ValueError) as e:
            _fail(str(e))
        if as_json:
            typer.echo(json.dumps(rows))
        else:
            for r in rows:
                typer.echo(f"{r['run']:<24} {convention}: training {r['training']:.4g}  "
                           f"evaluation {r['evaluation']:.4g}  teacher {r['teacher']:.4g}")
        return
    if model_config is None:
        _fail("--model-config or --study is required")
    try:
        arch = F.Architecture.from_config(model_config)
    except (ValueError, FileNotFoundError, KeyError) as e:
        _fail(f"{model_config}: {e}")
    rows = [(prompt_tokens, generated_tokens)]
    if lengths is not None:
        rows = _read_lengths(lengths)
    train = sum(F.train_flops(arch, [p + g], convention) for p, g in rows)
    infer = sum(F.inference_flops(arch, p, g, convention) for p, g in rows)
    out = {
        "convention": convention, "parameters": arch.parameters,
        "non_embedding_parameters": arch.non_embedding_parameters, "active_parameters": arch.active_parameters,
        "samples": len(rows), "train_flops": train, "inference_flops": infer,
    }
    if as_json:
        typer.echo(json.dumps(out))
    else:
        for k, v in out.items():
            typer.echo(f"{k:>26}: {v:.4g}" if isinstance(v, float) else f"{k:>26}: {v}")


def _read_lengths(path: Path) -> list[tuple[int, int]]:
    import pandas as pd

    if not path.exists():
        _fail(f"{path}: no such file")
    df = pd.read_json(path, lines=True) if path.suffix == ".jsonl" else pd.read_csv(path)
    for col in ("prompt_tokens", "generated_tokens"):
        if col not in df.columns:
            _fail(f"{path}: missing column {col!r}")
    bad = df[(df.prompt_tokens < 0) | (df.generated_tokens < 0)]
    if len(bad):
        _fail(f"{path}: negative token count on row {int(bad.index[0]) + 1}")
    return [(int(p), int(g)) for p, g in zip(df.prompt_tokens, df.generated_tokens)]


@app.command()
def analyze(
    source: Path = typer.Argument(..., help="A study directory, or a results CSV/Parquet in the results schema."),
    out: Path = typer.Option(None, help="Where to write the report (default: <study>/report)."),
    as_json: bool = typer.Option(False, "--json", help="Print frontiers and verdicts as JSON."),
) -> None:
    """Frontiers, verdicts and the HTML report from a results table."""
    import pandas as pd

    from .analysis import analyze as run_analysis
    from .analysis import write_report

    table = source / "results.parquet" if source.is_dir() else source
    if not table.exists():
        _fail(f"{table}: no results table (run the study first, or pass a results CSV)")
    try:
        results = pd.read_parquet(table) if table.suffix == ".parquet" else pd.read_csv(table)
        summary = run_analysis(results)
        report = write_report(results, out or (source / "report" if source.is_dir() else table.parent / "report"),
                              title=f"Scale or reason? — {source.name}")
    except (ValueError, KeyError) as e:
        _fail(f"{table}: {e}")
    if as_json:
        typer.echo(json.dumps([{"family": f["family"], "axis": f["axis"], "convention": f.get("convention"),
                                 "frontier": f["points"]} for f in summary["frontiers"]]))
    else:
        typer.echo(summary["text"])
        typer.echo(f"Report: {report}")


if __name__ == "__main__":  # pragma: no cover
    app()
