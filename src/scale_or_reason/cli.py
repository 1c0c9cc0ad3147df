"""The ``sor`` command line: parses arguments and dispatches to the stage modules, nothing more.

Example::

    sor demo --profile quick --out sor-study
    sor study plan studies/paper.toml
    sor study run studies/demo.toml --out sor-study && sor study status studies/demo.toml --out sor-study
    sor flops --model-config sor-study/runs/s4-ift/config.json --prompt-tokens 60 --generated-tokens 120 --json
    sor analyze sor-study --json
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from .evaluate.runner import EvalConfig, GenerationBackendConfig
from .options import config_options
from .study.config import ComputeSection
from .teacher.exchange import ExportConfig, ImportConfig
from .teacher.config import GenerateConfig
from .train import TrainConfig

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,  # help: "[generate]" is text
                  help="scale-or-reason: should you train a bigger IFT student or a smaller reasoning one?")
err = Console(stderr=True)


@app.callback()
def _options(verbose: bool = typer.Option(
        False, "--verbose", "-v",
        help="Also print INFO logs (the toolkit's and its libraries') and the libraries' own progress bars. The "
             "console otherwise shows one bar per stage and one line per task; full per-step logs are in each run "
             "directory (train_log.jsonl, tensorboard/) and failed tasks' tracebacks in <study>/logs/.")) -> None:
    """scale-or-reason: should you train a bigger IFT student or a smaller reasoning one?"""
    if verbose:
        import logging
        import os

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("scale_or_reason").setLevel(logging.INFO)
        os.environ["SOR_VERBOSE"] = "1"  # read by the study executor, which otherwise silences library bars


def _fail(message: str) -> None:
    from rich.markup import escape

    err.print(f"[red]error:[/] {escape(message)}")  # escaped: "[train].lr" is a key, not markup
    raise typer.Exit(2)


@app.command()
def demo(
    profile: str = typer.Option("demo", help="Shipped study: 'demo' (~9 min on 2 cores; alias 'default'), 'quick' (~1 min), 'curriculum' (all ρ, one size) or 'full' (5 sizes, LR grid, 3 seeds)."),
    out: Path = typer.Option(Path("sor-study"), help="Study directory (created; a rerun reuses finished tasks)."),
) -> None:
    """Run the embedded study (`sor study run studies/demo.toml`) and print where the report is."""
    from .study import run_demo

    try:
        summary = run_demo(out=out, profile=profile)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        _fail(str(e))
    _study_done(summary)


def _study_done(summary: dict) -> None:
    t = summary["timings"]
    if t:
        err.print("wall seconds per stage: " + ", ".join(f"{k} {v:.0f}" for k, v in t.items()))
    if not Path(summary["report"]).exists():
        typer.echo("No report yet: the analysis task has not run (see `sor study status`).")
        return
    err.print(f"results table: {summary['results']}")
    _accuracy_glance(Path(summary["results"]))
    facts = Path(summary["report"]).parent / "analysis.json"
    if facts.exists():  # the report's lead, one answer per family
        try:
            for v in json.loads(facts.read_text()).get("verdicts", []):
                if v.get("answer"):
                    err.print(f"  {v['answer']}", markup=False, highlight=False)
        except (ValueError, OSError):
            pass
    typer.echo(f"Report: {summary['report']}")


def _accuracy_glance(results: Path) -> None:
    """The results table at a glance: accuracy % [95% interval] per student x arm x family, pooled over seeds and
    benchmarks by ``analysis.aggregate_by_family`` (what the report's frontiers use), with the baselines."""
    import pandas as pd
    from rich.table import Table

    from .analysis import aggregate_by_family
    from .records import FAMILIES

    if not results.exists():
        return
    agg = aggregate_by_family(pd.read_csv(results))
    agg = agg[agg["family"].isin(FAMILIES)]
    if agg.empty:
        return
    fams = [f for f in FAMILIES if f in set(agg["family"])]
    base = agg.groupby("family")["baseline"].first()
    table = Table(title="accuracy % [95% interval], pooled over seeds and benchmarks",
                  caption="baseline: " + ", ".join(f"{f} {100 * base[f]:.0f}" for f in fams))
    for c in ("student", "arm", *fams):
        table.add_column(c, justify="right" if c in fams else "left")
    cells = {(r.student, r.arm, r.family): f"{100 * r.accuracy:.0f} [{100 * r.ci_low:.0f}-{100 * r.ci_high:.0f}]"
             for r in agg.itertuples()}
    for student, arm in dict.fromkeys(zip(agg["student"], agg["arm"])):
        table.add_row(str(student), str(arm), *(cells.get((student, arm, f), "-") for f in fams))
    err.print(table)


study_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Plan, run and follow a study described by a study file.")
app.add_typer(study_app, name="study")
_STUDY_FILE = typer.Argument(..., help="Study file (TOML), or a shipped study's name: demo, quick, curriculum, paper, replication.")
_STUDY_OUT = typer.Option(Path("sor-study"), help="Study directory.")


def _load_study(config: str):
    from .study import load_study_file

    try:
        return load_study_file(config)
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))


@study_app.command("run")
def study_run(
    config: str = _STUDY_FILE,
    out: Path = _STUDY_OUT,
    executor: str = typer.Option(None, help="local | slurm (default: the study file's [executor].kind)."),
    only: list[str] = typer.Option(None, help="Run only these tasks or stages (and what they need); repeatable."),
) -> None:
    """Run what is missing of the study; print where the report is."""
    from .study import run_study

    cfg = _load_study(config)
    try:
        summary = run_study(cfg, out, executor=executor, only=only)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        _fail(str(e))
    if summary["submitted"] and not summary["trained"]:
        typer.echo(f"Submitted {len(summary['submitted'])} job(s); follow them with: sor study status {config} --out {out}")
        return
    _study_done(summary)


@study_app.command("plan")
@config_options(ComputeSection)
def study_plan(
    config: str = _STUDY_FILE,
    out: Path = _STUDY_OUT,
    tasks: bool = typer.Option(False, "--tasks", help="One line per task (default: per stage)."),
    as_json: bool = typer.Option(False, "--json", help="Print the per-task plan as JSON."),
    overrides: dict | None = None,
) -> None:
    """The task graph with what is done, and per stage the FLOPs and GPU-hours; runs nothing. Any [compute]
    assumption of the study file can be overridden here (--mfu-train 0.4, --peak-flops 1.98e15...)."""
    import dataclasses

    from rich.table import Table

    from .study import plan_study, stage_totals

    cfg = _load_study(config)
    try:
        cfg = cfg.with_changes(compute=dataclasses.replace(cfg.compute, **(overrides or {})))
    except (ValueError, TypeError) as e:
        _fail(str(e))
    try:
        plan = plan_study(cfg, out)
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    if as_json:
        typer.echo(plan.to_json(orient="records"))
        return
    rows = plan if tasks else stage_totals(plan)
    c = cfg.compute
    table = Table(title=f"{cfg.study.name}: {c.gpu} at {c.peak_flops:.3g} FLOP/s, MFU train {c.mfu_train:.0%}, "
                        f"generation {c.mfu_inference:.0%} ({c.convention} convention)")
    cols = ["task", "needs", "status"] if tasks else ["stage", "tasks", "done"]

    def cell(r, col: str) -> str:
        if col == "needs":  # the graph's edges, shortened: the analysis needs every evaluation
            d = list(r.needs)
            return ", ".join(d[:2]) + (f" +{len(d) - 2}" if len(d) > 2 else "")
        return str(r[col])

    numbers = {"flops": "FLOPs", "gpu_hours": "GPU-h", "generated_tokens": "tokens", "judge_calls": "judge calls"}
    for col in cols:
        table.add_column(col, justify="right" if col in ("tasks", "done") else "left")
    for title in numbers.values():
        table.add_column(title, justify="right")
    table.add_column("basis", no_wrap=True)  # the basis is what the number means: never cut
    for _, r in rows.iterrows():
        table.add_row(*[cell(r, c_) for c_ in cols], f"{r.flops:.3g}", f"{r.gpu_hours:,.1f}",
                      f"{r.generated_tokens:.3g}", f"{r.judge_calls:,.0f}", str(r.basis))
    Console().print(table)
    unknown = plan[plan.flops.isna()]
    total = (f"{plan.flops.sum():.3g} FLOPs, {plan.gpu_hours.sum():,.0f} GPU-hours, "
             f"{plan.generated_tokens.sum():.3g} generated tokens, {plan.judge_calls.sum():,.0f} judge calls")
    if len(unknown):  # an unknown cost is not a zero: say what is missing
        reasons = ", ".join(sorted(set(unknown.task.str.split("/").str[0] + ": " + unknown.basis)))
        typer.echo(f"Total: at least {total} ({len(unknown)} task(s) of unknown cost: {reasons})")
    else:
        typer.echo(f"Total: {total}")


@study_app.command("status")
def study_status_cmd(
    config: str = _STUDY_FILE,
    out: Path = _STUDY_OUT,
    all_tasks: bool = typer.Option(False, "--all", help="List done tasks too."),
) -> None:
    """The grid: done, running, submitted, failed (with the reason), pending, blocked."""
    from rich.table import Table

    from .study import study_status

    cfg = _load_study(config)
    st = study_status(cfg, out)
    counts = st.status.value_counts().to_dict()
    table = Table(title=f"{cfg.study.name} in {out}: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    for col in ("task", "status", "reason", "seconds", "job"):
        table.add_column(col)
    for _, r in st.iterrows():
        if r.status == "done" and not all_tasks:
            continue
        secs = "" if r.seconds is None or r.seconds != r.seconds else f"{r.seconds:.1f}"
        table.add_row(r.task, r.status, str(r.reason or ""), secs, str(r.job_id or ""))
    Console().print(table)


@study_app.command("task", hidden=True)
def study_task(
    config: str = _STUDY_FILE,
    out: Path = _STUDY_OUT,
    task: str = typer.Option(..., help="Task id (see `sor study status --all`)."),
) -> None:
    """Run one task of the study (what a SLURM job runs)."""
    from .study import expand, run_task

    cfg = _load_study(config)
    found = next((t for t in expand(cfg) if t.id == task), None)
    if found is None:
        _fail(f"{config}: no task {task!r}")
    try:
        run_task(cfg, found, out)
    except Exception as e:
        _fail(f"{task}: {e}")


@app.command()
@config_options(TrainConfig)
def train(
    pairs: Path = typer.Option(..., help="Pair store directory (Parquet shards of PairedSample)."),
    arm: str = typer.Option(..., help="ift | reasoning | sequential:RHO | mixed:RHO"),
    out: Path = typer.Option(..., help="Run directory (checkpoint, order, ledger); a rerun resumes or skips."),
    student_config: Path = typer.Option(None, help="HF config (JSON) of a student built from scratch."),
    pretrained: str = typer.Option(None, help="Checkpoint directory (or hub id where a hub is reachable)."),
    tokenizer: Path = typer.Option(None, help="Tokenizer directory (default: the --pretrained checkpoint)."),
    name: str = typer.Option(None, help="Student label (default: the checkpoint or config file name); the paper's "
                                        "Table 2 learning rates are looked up by it when --learning-rate is not given."),
    samples: int = typer.Option(0, min=0, help="Samples in the arm (0: every pair)."),
    overrides: dict | None = None,
) -> None:
    """Fine-tune one student on one arm of a pair store (runs under `accelerate launch` unchanged)."""
    from .data import Arm
    from .train import StudentSpec, arm_from_stores, train_student
    from .util import read_json

    if (student_config is None) == (pretrained is None):
        _fail("give exactly one of --student-config and --pretrained")
    tok_dir = tokenizer or (Path(pretrained) if pretrained else None)
    if tok_dir is None:
        _fail("--tokenizer is required with --student-config")
    options = dict(overrides or {})
    try:
        arm_obj = Arm.parse(arm)
        config = read_json(student_config) if student_config else {}
        lr = options.get("learning_rate")  # given: both formats at it; else the paper's Table 2, else the default
        spec = StudentSpec(name=name or Path(pretrained or student_config).stem, config=config, pretrained=pretrained,
                           learning_rate={"ift": lr, "reasoning": lr} if lr is not None else {})
        cfg = TrainConfig(**options)
        cfg.micro_batch_size = min(cfg.micro_batch_size, cfg.batch_size)
        chosen = arm_from_stores([pairs], arm_obj, samples, seed=cfg.seed)
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
    try:
        rows = F.read_lengths(lengths) if lengths is not None else [(prompt_tokens, generated_tokens)]
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    out = F.flops_totals(arch, rows, convention)
    if as_json:
        typer.echo(json.dumps(out))
    else:
        for k, v in out.items():
            typer.echo(f"{k:>26}: {v:.4g}" if isinstance(v, float) else f"{k:>26}: {v}")


@app.command()
def analyze(
    source: Path = typer.Argument(..., help="A study directory, or a results CSV/Parquet in the results schema."),
    out: Path = typer.Option(None, help="Report directory (default: <study>/report, or ./sor-analysis for a table)."),
    queries: list[float] = typer.Option(None, "--queries", help="Query counts Q for total-cost frontiers (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Print per family and cost axis: the frontier, the frontier of learned points, the family's answer and its stated equivalences, as JSON."),
) -> None:
    """Frontiers, fits, verdicts and the HTML report from a study or a results table."""
    from .analysis import load_study, run_analysis, write_report

    try:
        data = load_study(source)
        analysis = run_analysis(data.results, data.answers, queries=queries or None,
                                teacher_accuracy=data.teacher_accuracy or None)
        report = write_report(analysis, out or (source / "report" if source.is_dir() else Path("sor-analysis")),
                              title=f"Scale or reason? — {source.name}", config=data.config)
    except (ValueError, KeyError, FileNotFoundError) as e:
        msg = str(e)
        _fail(msg if msg.startswith(str(source)) else f"{source}: {msg}")  # the file named once
    if as_json:
        full = analysis.to_dict()
        facts = {v["family"]: v for v in full["verdicts"]}
        rows = []
        for f in full["frontiers"]:
            v = facts.get(f["family"], {})
            rows.append({"family": f["family"], "axis": f["axis"], "convention": f.get("convention"),
                         "frontier": f["points"],                                   # every measured point
                         "learned_frontier": v.get("frontier", {}).get(f["axis"], []),  # what verdicts use
                         "answer": v.get("answer"),
                         "equivalences": [e for e in v.get("equivalences", []) if e.get("axis") == f["axis"]]})
        typer.echo(json.dumps(rows))
    else:
        typer.echo(analysis.text)
        typer.echo(f"Report: {report}")


@app.command()
@config_options(GenerateConfig, skip={"progress"})
def generate(
    config: Path = typer.Option(None, help="TOML file with a [generate] table (options given here override it)."),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    overrides: dict | None = None,
) -> None:
    """Answer each prompt twice with one teacher, reasoning off and on, into a resumable pair store."""
    from .teacher import BackendError
    from .teacher.config import load_generate_config
    from .teacher.runner import SystematicFailure
    from .teacher.runner import generate as run_generate
    from .teacher.summary import format_summary, summary_json

    options = dict(overrides or {}, **({"progress": False} if no_progress else {}))
    try:
        cfg = load_generate_config(config, **options) if config else GenerateConfig(**options)
        if not cfg.source:
            _fail("give --source (prompts for the teacher); released pairs: `sor pairs import`")
        summary = run_generate(cfg)
    except (ValueError, FileNotFoundError, BackendError, SystematicFailure) as e:
        _fail(str(e))  # _fail escapes: messages may hold brackets, e.g. "scale-or-reason[openai]"
    typer.echo(summary_json(summary) if as_json else format_summary(summary))
    if not cfg.failures_tolerated(summary):  # stored; a rerun asks only for the rest
        raise typer.Exit(1)


pairs_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                        help="Pair stores in the paper's released layout (prompt, reasoning, ift).")
app.add_typer(pairs_app, name="pairs")


@pairs_app.command("import")
@config_options(ImportConfig)
def pairs_import(
    source: str = typer.Argument(..., help="Released-layout pairs: a dataset dir, a Parquet/JSONL file or a hub id."),
    out: Path = typer.Option(Path("pairs"), help="Pair store to import into; a rerun resumes it."),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
    overrides: dict | None = None,
) -> None:
    """Read pairs in the released layout into a pair store (token counts exact with --tokenizer)."""
    from dataclasses import asdict

    from .teacher import import_pairs

    try:
        res = import_pairs(source, out, **asdict(ImportConfig(**(overrides or {}))), progress=not no_progress)
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    err.print(f"imported {res['imported']} pairs ({res['skipped']} already there) into {res['out']}")


@pairs_app.command("export")
@config_options(ExportConfig)
def pairs_export(
    store: Path = typer.Argument(..., help="Pair store directory."),
    out: Path = typer.Option(..., help="Folder to write: a HF dataset in the released layout (prompt, reasoning, ift)."),
    overrides: dict | None = None,
) -> None:
    """Write a pair store as a dataset in the released layout (loadable by datasets.load_dataset, uploadable)."""
    from dataclasses import asdict

    from .teacher import export_pairs

    try:
        res = export_pairs(store, out, **asdict(ExportConfig(**(overrides or {}))))
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    err.print(f"exported {res['rows']} pairs ({res['dropped']} left out) to {res['out']}")


@app.command()
def plan(
    study: Path = typer.Option(None, "--study", help="A study directory (results table + per-sample answers)."),
    results: Path = typer.Option(None, "--results", help="A results CSV/Parquet in the results schema."),
    family: str = typer.Option(..., help="Task family to plan for, e.g. Math-OE."),
    train_budget: float = typer.Option(..., help="Training FLOPs budget (results table's convention)."),
    queries: float = typer.Option(None, help="Queries the model will serve: adds total = training + Q x inference."),
    inference_budget: float = typer.Option(None, help="Inference FLOPs for all the queries (per query without --queries)."),
    extrapolate: bool = typer.Option(False, help="Also give fitted-curve predictions beyond the measured range (flagged)."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
) -> None:
    """Recommend (size, arm, rho) within a budget, with expected accuracy, CI and runner-up (exit 1 if refused)."""
    from .analysis.inputs import load_study
    from .analysis.plan import plan as make_plan

    if (study is None) == (results is None):
        _fail("give exactly one of --study DIR or --results CSV")
    try:
        data = load_study(study or results)
        out = make_plan(data.results, family, train_budget, queries, inference_budget, answers=data.answers,
                        extrapolate=extrapolate, teacher_accuracy=data.teacher_accuracy)
    except (ValueError, FileNotFoundError, KeyError) as e:
        _fail(f"{study or results}: {e}")
    typer.echo(json.dumps(out) if as_json else out["text"])
    if out["refusal"]:
        raise typer.Exit(1)


bench_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Benchmark specs and their prepared local copies.")
app.add_typer(bench_app, name="bench")


@bench_app.command("list")
def bench_list() -> None:
    """List the shipped benchmark specs: name, family, grader, source."""
    from .evaluate.specs import list_specs, load_spec

    for name in list_specs():
        s = load_spec(name)
        src = s.source.hub_id or (f"synthetic:{s.source.synthetic}" if s.source.synthetic else "local file")
        typer.echo(f"{name:<24} {s.family:<12} {s.grader:<8} {src}")


@bench_app.command("prepare")
def bench_prepare(
    names: list[str] = typer.Argument(..., help="Spec names (see `sor bench list`) or spec files; 'all' for every shipped spec."),
    out: Path = typer.Option(..., help="Directory of prepared benchmarks (JSONL + manifest with a content hash)."),
    source_file: Path = typer.Option(None, help="Read this local file instead of the hub (needed for C code summarisation)."),
    limit: int = typer.Option(None, min=1, help="Keep the first N items (smoke tests)."),
) -> None:
    """Download each benchmark where the hub is reachable and write the pinned local copy evaluations read."""
    from .evaluate import list_specs, load_spec, prepare_benchmark, read_prepared

    if source_file is not None and len(names) != 1:
        _fail("--source-file reads one benchmark's data: give exactly one benchmark name with it")
    if names == ["all"]:
        names = list_specs()
        for name in [n for n in names if load_spec(n).source.local]:
            err.print(f"{name}: skipped (no public download; prepare it alone with --source-file)")
            names.remove(name)
    for name in names:
        try:
            spec = load_spec(name)
            path = prepare_benchmark(spec, out, source_file=source_file, limit=limit)
            n = len(read_prepared(out, spec))
        except (ValueError, FileNotFoundError, RuntimeError) as e:
            _fail(str(e))
        err.print(f"{spec.name}: {n} items -> {path}")


@app.command()
@config_options(EvalConfig, param="eval_options")
@config_options(GenerationBackendConfig, param="model_options")
def evaluate(
    benchmarks: list[str] = typer.Option(..., "--benchmark", "-b", help="Spec name or spec file; repeat for several."),
    prepared: Path = typer.Option(..., help="Directory written by `sor bench prepare` (read offline)."),
    out: Path = typer.Option(..., help="Evaluation directory: answers/*.parquet, summary.csv, resumable generations."),
    thinking: bool = typer.Option(..., "--thinking/--no-thinking", help="Prompt with reasoning on (arms trained to think) or off (IFT)."),
    jury: Path = typer.Option(None, help="Jury file (TOML, [[judges]] behind OpenAI-compatible servers): the paper's score."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    eval_options: dict | None = None,
    model_options: dict | None = None,
) -> None:
    """Generate, grade (rules, optionally a jury) and count FLOPs of one model on prepared benchmarks."""
    from .evaluate import evaluate_model, load_spec
    from .evaluate.jury import load_jury

    if not (model_options or {}).get("model"):
        _fail("give --model (a checkpoint directory, or the served model's name with --backend openai)")
    try:
        cfg = EvalConfig(**(eval_options or {}))
        if cfg.samples > 1 and cfg.temperature == 0:
            _fail("--samples > 1 needs --temperature > 0 (greedy answers would all be the same)")
        specs = [load_spec(b) for b in benchmarks]
        summary = evaluate_model(GenerationBackendConfig(**(model_options or {})), specs, prepared=prepared, out=out,
                                 thinking=thinking, cfg=cfg, jury=load_jury(jury) if jury else None)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        _fail(str(e))
    if as_json:
        typer.echo(summary.to_json(orient="records"))
        return
    for r in summary.itertuples():
        typer.echo(f"{r.benchmark:<24} accuracy {r.accuracy:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]  n={r.n}  "
                   f"tokens mean {r.generated_tokens_mean:.0f} p90 {r.generated_tokens_p90:.0f}  "
                   f"truncated {r.truncated_fraction:.1%}")
    if jury and (out / "jury.json").exists():
        for name, st in json.loads((out / "jury.json").read_text()).items():
            rule = st.get("rule") or {}
            err.print(f"jury {name}: Fleiss kappa {st['fleiss_kappa']:.2f} over {st['n_all_valid']} items, "
                      f"rule-vs-jury agreement {rule.get('agreement', float('nan')):.1%} "
                      f"({rule.get('agreement_decided', float('nan')):.1%} where the jury decided), "
                      f"flags {st['flags']}")
    err.print(f"answers and summary: {out}")


@app.command()
def grade(
    input: Path = typer.Option(..., "--input", help="JSONL: response, reference, grader (math | mc | span | exact | numeric | ifeval | none), choices for mc."),
    output: Path = typer.Option(..., "--output", help="JSONL: each input line plus extracted, correct, truncated, score."),
) -> None:
    """Grade answers with the rule graders (a trace cut before </think> is truncated and wrong)."""
    from .evaluate.graders import grade_file

    try:
        counts = grade_file(input, output)
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    err.print(f"{counts['lines']} graded: {counts['correct']} correct, {counts['truncated']} truncated -> {output}")


def main() -> None:
    """The ``sor`` command. SIGTERM (a cluster's preemption, ``kill``) ends it with status 143 through Python's
    unwinding (files close, stores flush) wherever it lands; stages that need a safe point first (training: the
    end of a step, then a checkpoint) take the signal over while they run."""
    import signal

    from .util import terminated_unwinds

    try:
        with terminated_unwinds():
            app()
    finally:  # the work is over: a SIGTERM during interpreter shutdown is ignored (Python would reset the handler
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # to the default and die of it, status -15, mid-cleanup)


if __name__ == "__main__":  # pragma: no cover
    main()
