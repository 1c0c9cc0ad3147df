"""The analysis report: one self-contained HTML file plus machine-readable tables.

``write_report`` writes, under ``out_dir``:

* ``report.html`` — the verdicts first, then every figure (embedded as base64 PNG data URIs, no
  external assets, no scripts), the tables (compute equivalences, total cost by number of queries,
  fits, uncertainty, early stopping, seed spread, results by family, token ratios), the methods and
  FLOPs convention used, and the study's configuration. Every piece of text is HTML-escaped.
* ``results.csv`` and ``results.parquet`` — the family-aggregated results (``RESULTS_COLUMNS``).
* ``frontiers.json`` — ``[Frontier.to_dict(), ...]``; ``analysis.json`` — everything
  (:meth:`~scale_or_reason.analysis.pipeline.Analysis.to_dict`).
* ``fits.csv``, ``equivalences.csv``, ``uncertainty.csv``, ``early_stopping.csv`` — the tables.
* ``figures/`` — each figure as PNG and SVG.

The analysis is one pipeline with one door each way: ``load_study`` (a study directory or a results
table) -> ``run_analysis`` (the typed ``Analysis``: facts computed once) -> ``write_report(analysis)``
(sentences and figures rendered from those facts). All files are written atomically.

Example::

    from pathlib import Path
    from scale_or_reason.analysis import load_study, run_analysis, write_report
    data = load_study("sor-study")
    a = run_analysis(data.results, data.answers, queries=[1e6], teacher_accuracy=data.teacher_accuracy)
    path = write_report(a, Path("sor-study/report"), title="Demo study", config=data.config,
                        notes=["Synthetic tasks, not the paper's."])
    a.to_dict()   # {"families", "frontiers", "fits", "verdicts", "text", ...}: what sor analyze --json builds on
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from scale_or_reason.analysis.arms import (
    IFT,
    REASONING,
    arm_kind,
    arm_word,
    ordered_families,
    ordered_students,
)
from scale_or_reason.analysis.equivalence import HEADLINE_RULE
from scale_or_reason.analysis.figures import figure_gaps, plot_all
from scale_or_reason.analysis.formatting import (
    atomic_path,
    atomic_write_text,
    finite,
    fmt_flops,
    fmt_params,
    fmt_pct,
    fmt_ratio,
    fmt_tokens,
    jsonable,
)
from scale_or_reason.analysis.frontier import aggregate_by_family
from scale_or_reason.analysis.pipeline import Analysis
from scale_or_reason.analysis.verdicts import FamilyVerdict

CONVENTION_NOTES: dict[str, str] = {
    "paper": (
        "The paper's App. D formula (after Hoffmann et al. 2022, App. F): embeddings, dense "
        "attention with h heads, a two-matrix FFN and logits, ignoring GQA, gated FFNs and MoE "
        "routing. Training = 3 x forward per sample at the sample's own length (prompt + answer); "
        "inference = prefill of the prompt plus one cached decode step per generated token."
    ),
    "exact": (
        "Architecture-exact counting of the student's own layers (e.g. grouped-query attention and "
        "gated FFNs), with the same training (3 x forward) and inference (prefill + cached decode) "
        "structure as the paper convention."
    ),
    "6nd": "The 6·N·D rule of thumb: 6 FLOPs per parameter per trained token (2·N per generated token).",
}
"""Short descriptions of the FLOPs conventions, shown in the report; the flops module is authoritative."""

_FIGURES = (
    ("train_flops", "Fig. 2 — accuracy vs training FLOPs, one panel per family. Step line: frontier of "
                    "learned measured points (grey points did not learn); coloured curves: fitted saturating "
                    "curves (dotted where extrapolated); dashed: trivial baseline; bars: 95% Wilson intervals."),
    ("inference_flops", "Fig. 3 — accuracy vs inference FLOPs per evaluated query, one panel per family, "
                        "same conventions."),
    ("token_factor", "Fig. 1 — extra-token factor (reasoning / IFT mean generated tokens) vs accuracy "
                     "gain of reasoning, one marker per benchmark x student."),
    ("length_correct", "Fig. 4 — mean generated tokens of correct (solid) and incorrect (dashed, open "
                       "markers) answers by student size."),
    ("rho_accuracy", "Fig. 5 — accuracy vs reasoning share ρ: sequential (solid) and mixed (dashed) "
                     "curricula, one line per student; IFT is ρ = 0, reasoning ρ = 1."),
    ("rho_tokens", "Fig. 6 — mean generated tokens vs reasoning share ρ, same conventions."),
    ("inference_scaling", "Fig. 14 — inference FLOPs per query vs parameters with power-law fits "
                          "(N in billions)."),
    ("early_stopping", "App. H — accuracy vs inference FLOPs per query if answers were cut at their "
                       "0/25/50/75/100th length percentiles (large marker: no cut); cut answers count "
                       "as incorrect."),
    ("tokens", "Mean generated tokens per query by student and arm (log scale)."),
)

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
h3{margin-bottom:.3em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0 1em}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}
tr.fam td{background:#fafafa;font-weight:600;text-align:left}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.85em}
.notes{background:#fff8e1;border-left:4px solid #f0b400;padding:.4em 1em}
.muted{color:#777;font-size:.85em}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _verdicts_html(items: list[FamilyVerdict]) -> str:
    if not items:
        return "<p>No results to judge.</p>"
    parts = []
    for v in items:
        conv = f" — FLOPs convention <code>{_e(v.convention)}</code>" if v.convention else ""
        parts.append(
            f"<h3>{_e(v.family)}</h3><p class=\"muted\">{len(v.students)} students; arms: "
            f"{_e(', '.join(v.arms))}{conv}</p><ul>"
            + "".join(f"<li>{_e(s)}</li>" for s in v.sentences)
            + "</ul>"
        )
    return "\n".join(parts)


def figures_html(paths: dict[str, list[Path]], gaps: dict[str, str], only: tuple[str, ...] = (),
                 skip: tuple[str, ...] = ()) -> str:
    """The report's figures (``paths``, by kind) as HTML, and one line per kind not drawn with its reason
    (``gaps``); ``only``/``skip`` select kinds. Nothing drawn at all: a single "No figures" line."""
    parts = []
    missing = []
    for key, caption in _FIGURES:
        if (only and key not in only) or key in skip:
            continue
        pngs = [p for p in paths.get(key, []) if Path(p).suffix == ".png"]
        if not pngs:
            missing.append(f"<li>{_e(caption.split(' — ')[0])}: not drawn — "
                           f"{_e(gaps.get(key, 'nothing to plot'))}.</li>")
        for png in pngs:
            data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
            parts.append(
                f'<figure id="fig-{_e(key)}"><img alt="{_e(caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{_e(caption)}</figcaption></figure>"
            )
    body = "\n".join(parts) if parts else "<p>No figures (empty results table).</p>"
    if missing and parts:
        body += "<p class=\"muted\">Figures not drawn:</p><ul class=\"muted\">" + "".join(missing) + "</ul>"
    return body


def _acc_ci(row: pd.Series) -> str:
    acc = fmt_pct(row["accuracy"])
    if finite(row["ci_low"]) and finite(row["ci_high"]):
        return f"{acc} [{100 * row['ci_low']:.1f}, {100 * row['ci_high']:.1f}]"
    return acc


def _results_table_html(agg: pd.DataFrame) -> str:
    if agg.empty:
        return "<p>No results.</p>"
    head = (
        "<tr><th class=\"l\">student</th><th>parameters</th><th class=\"l\">arm</th>"
        "<th class=\"l\">benchmarks</th><th>n</th><th>accuracy [95% CI]</th><th>baseline</th>"
        "<th>training FLOPs</th><th>inference FLOPs / query</th><th>mean tokens</th>"
        "<th>tokens (correct)</th><th>tokens (incorrect)</th><th>truncated</th></tr>"
    )
    rows = []
    for family in ordered_families(agg):
        rows.append(f"<tr class=\"fam\"><td colspan=\"13\">{_e(family)}</td></tr>")
        for _, r in agg[agg["family"] == family].iterrows():
            n = f"{int(r['n'])}" if finite(r["n"]) else "n/a"
            cells = [
                ("l", r["student"]), ("", fmt_params(r["parameters"])), ("l", r["arm"]),
                ("l", r["benchmark"]), ("", n), ("", _acc_ci(r)), ("", fmt_pct(r["baseline"])),
                ("", fmt_flops(r["train_flops"])), ("", fmt_flops(r["inference_flops_mean"])),
                ("", fmt_tokens(r["generated_tokens_mean"])),
                ("", fmt_tokens(r["generated_tokens_correct_mean"])),
                ("", fmt_tokens(r["generated_tokens_incorrect_mean"])),
                ("", fmt_pct(r["truncated_fraction"])),
            ]
            rows.append("<tr>" + "".join(
                f"<td class=\"{c}\">{_e(v)}</td>" if c else f"<td>{_e(v)}</td>" for c, v in cells
            ) + "</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def token_ratios(results: pd.DataFrame) -> pd.DataFrame:
    """Reasoning / IFT mean generated tokens per family (rows) and student (columns, by size).

    NaN where either arm is missing or the IFT mean is not positive.

    Example::

        token_ratios(results).round(1)
    """
    agg = aggregate_by_family(results)
    students = ordered_students(agg) if not agg.empty else []
    families = ordered_families(agg) if not agg.empty else []
    table = pd.DataFrame(index=pd.Index(families, name="family"), columns=students, dtype=float)
    kinds = agg["arm"].map(arm_kind) if not agg.empty else pd.Series(dtype=str)
    for family in families:
        for student in students:
            sel = (agg["family"] == family) & (agg["student"] == student)
            ift = agg.loc[sel & (kinds == IFT), "generated_tokens_mean"]
            rsn = agg.loc[sel & (kinds == REASONING), "generated_tokens_mean"]
            if len(ift) and len(rsn) and finite(ift.iloc[0]) and finite(rsn.iloc[0]) \
                    and ift.iloc[0] > 0:
                table.loc[family, student] = float(rsn.iloc[0]) / float(ift.iloc[0])
    return table


def _ratio_table_html(ratios: pd.DataFrame) -> str:
    if ratios.empty or ratios.isna().all().all():
        return "<p>Not available: the table needs both an IFT and a reasoning arm for a student.</p>"
    head = "<tr><th class=\"l\">family</th>" + "".join(f"<th>{_e(s)}</th>" for s in ratios.columns) + "</tr>"
    rows = []
    for family, r in ratios.iterrows():
        cells = "".join(f"<td>{_e(f'{v:.1f}×' if finite(v) else '—')}</td>" for v in r)
        rows.append(f"<tr><td class=\"l\">{_e(family)}</td>{cells}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _convention_html(agg: pd.DataFrame) -> str:
    convs = sorted({c for c in agg["convention"].astype(str) if c and c != "nan"}) if not agg.empty else []
    if not convs:
        return "<p>The results table does not name a FLOPs convention.</p>"
    items = "".join(
        f"<li><code>{_e(c)}</code>: {_e(CONVENTION_NOTES.get(c, 'see the flops module for its definition.'))}</li>"
        for c in convs
    )
    warn = ("<p><strong>Several conventions are present; FLOPs are only compared within one."
            "</strong></p>") if len(convs) > 1 else ""
    return f"<ul>{items}</ul>{warn}"


def _config_html(config: dict | None) -> str:
    if not config:
        return "<p>No study configuration was given.</p>"
    text = json.dumps(jsonable(config), indent=2, ensure_ascii=False)
    return f"<pre>{_e(text)}</pre>"


@dataclass
class ReportSection:
    """A section a pipeline stage contributes to the report (as nanochat's stages write theirs): a titled
    table, rendered (escaped) under "Study stages"."""

    title: str
    """Section heading, e.g. ``Training``."""
    header: list[str]
    """Column names."""
    rows: list[list[Any]]
    """One list of cells per row."""
    note: str = ""
    """A line under the heading (what the numbers are)."""


def _sections_html(sections: list[ReportSection]) -> str:
    if not sections:
        return ""
    parts = ["<h2>Study stages</h2>"]
    for sec in sections:
        parts.append(f"<h3>{_e(sec.title)}</h3>")
        if sec.note:
            parts.append(f"<p class=\"muted\">{_e(sec.note)}</p>")
        parts.append(_table(sec.header, sec.rows) if sec.rows else "<p>Nothing recorded.</p>")
    return "\n".join(parts)


def _table(header: list[str], rows: list[list[Any]], left: int = 1) -> str:
    head = "".join(f"<th class=\"l\">{_e(h)}</th>" if i < left else f"<th>{_e(h)}</th>"
                   for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(f"<td class=\"l\">{_e(v)}</td>" if i < left else f"<td>{_e(v)}</td>"
                         for i, v in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _ci(lo: Any, hi: Any, pct: bool = True) -> str:
    if not (finite(lo) and finite(hi)):
        return "—"
    return f"{100 * lo:.1f}–{100 * hi:.1f}" if pct else f"{lo:.2g}–{hi:.2g}"


def _p(x: Any) -> str:
    return f"{float(x):.2f}" if finite(x) else "—"


_EQ_LIMIT = 12


def _equivalences_html(a: Analysis) -> str:
    measured = [e for e in a.equivalences.get("measured", []) if finite(e.ratio) and e.ratio > 1]
    if not measured:
        return ("<p>No measured point reaches another arm's accuracy with less compute (or no point "
                "is above its trivial baseline).</p>")
    by_method = {m: {(e.family, e.axis, e.arm, e.target_arm, e.target_student): e
                     for e in a.equivalences.get(m, [])} for m in ("interpolated", "fitted")}
    parts = []
    for family in ordered_families(a.agg):
        for axis in ("train_flops", "inference_flops"):
            rows_e = sorted((e for e in measured if e.family == family and e.axis == axis),
                            key=lambda e: -e.ratio)
            if not rows_e:
                continue
            shown = rows_e[:_EQ_LIMIT]
            rows = []
            for e in shown:
                key = (e.family, e.axis, e.arm, e.target_arm, e.target_student)
                it = by_method["interpolated"].get(key)
                ft = by_method["fitted"].get(key)
                rows.append([
                    f"{arm_word(e.arm)} {e.student}", f"{arm_word(e.target_arm)} {e.target_student}",
                    f"{fmt_pct(e.accuracy)} vs {fmt_pct(e.target_accuracy)}", fmt_ratio(e.ratio),
                    _ci(e.ci_low, e.ci_high, pct=False), _p(e.p_cheaper),
                    fmt_ratio(it.ratio) if it else "—",
                    (fmt_ratio(ft.ratio) + (" (extrap.)" if ft.extrapolated else "")) if ft else "—",
                ])
            more = (f"<p class=\"muted\">{len(rows_e) - len(shown)} more in equivalences.csv.</p>"
                    if len(rows_e) > len(shown) else "")
            what = "training" if axis == "train_flops" else "inference (per query)"
            parts.append(
                f"<h3>{_e(family)} — {_e(what)} compute</h3>"
                + _table(["A (reaches)", "B (target)", "accuracy A vs B", "k measured",
                          "bootstrap 95% CI of k", "P(k > 1)", "k interpolated", "k fitted"], rows, left=3)
                + more
            )
    return "\n".join(parts)


def _regimes_html(a: Analysis) -> str:
    rows = []
    for family, regs in a.regimes.items():
        for r in regs:
            lo, hi = r["q_from"], r["q_to"]
            rng = f"{lo:.3g} ≤ Q < {hi:.3g}" if hi is not None else f"Q ≥ {lo:.3g}"
            pts = ", ".join(f"{s} {arm_word(arm)}" for s, arm in r["points"])
            rows.append([family, rng, pts])
    if not rows:
        return "<p>Not available: needs training and inference FLOPs.</p>"
    out = _table(["family", "queries Q", "total-cost frontier (by increasing cost)"], rows, left=3)
    for f in a.total_frontiers:
        pts = ", ".join(f"{p['student']} {arm_word(p['arm'])}" for p in f.points) or "—"
        out += f"<p>{_e(f.family)}, Q = {f.queries:g}: {_e(pts)}</p>"
    return out


def _fits_html(a: Analysis) -> str:
    rows = [[f.family, arm_word(f.arm), f.axis, f"{f.alpha:.3f}", f"{f.beta:.3f}", f"{f.gamma:.3g}",
             f"{f.delta:.3f}", fmt_flops(f.x_ref), f"{100 * f.mae:.2f}", f"{100 * f.max_error:.2f}",
             f.n_points, f"{f.ceiling:.3f}", f"{fmt_flops(f.cost_min)}–{fmt_flops(f.cost_max)}"]
            for f in a.fits.fits]
    out = ""
    if rows:
        out += _table(["family", "arm", "axis", "α", "β", "γ", "δ", "C0 (FLOPs)", "MAE (points)",
                       "max error (points)", "points", "ceiling", "fitted cost range"], rows, left=3)
    else:
        out += "<p>No saturating fit: no family x arm x axis has enough points.</p>"
    if a.fits.skipped:
        out += "<ul class=\"muted\">" + "".join(f"<li>{_e(s['reason'])}</li>" for s in a.fits.skipped) + "</ul>"
    if a.power_laws:
        out += "<h3>Inference FLOPs vs size (Fig. 14 power laws)</h3>" + _table(
            ["family", "arm", "fit (N in billions)", "R² (log-log)", "points"],
            [[p.family, arm_word(p.arm), p.equation(), f"{p.r2:.3f}" if finite(p.r2) else "—", p.n_points]
             for p in a.power_laws], left=3)
    return out


def _uncertainty_html(a: Analysis) -> str:
    if not a.boot.n_boot:
        return "<p>Bootstrap turned off.</p>"
    t = a.uncertainty_table()
    if (t["source"] == "none").all():
        return ("<p>No uncertainty available: the results have neither per-sample answers nor sample "
                "counts n.</p>")
    rows = []
    agg = a.agg.reset_index(drop=True)
    for i, r in t.iterrows():
        w = agg.iloc[i]
        rows.append([r["family"], f"{r['student']} {arm_word(r['arm'])}", fmt_pct(r["accuracy"]),
                     _ci(w["ci_low"], w["ci_high"]), _ci(r["boot_low"], r["boot_high"]), r["source"],
                     _p(r["p_frontier_train_flops"]), _p(r["p_frontier_inference_flops"])])
    return (f"<p class=\"muted\">{a.boot.n_boot} bootstrap replicates (seed {a.boot.seed}).</p>"
            + _table(["family", "point", "accuracy", "Wilson 95%", "bootstrap 95%", "source",
                      "P(on training frontier)", "P(on inference frontier)"], rows, left=2))


def _early_html(a: Analysis) -> str:
    es = a.early_stop
    if es.empty:
        return "<p>Not available: needs per-sample answers.</p>"
    pcts = sorted(es["percentile"].unique())
    rows = []
    for (family, student, arm), g in es.groupby(["family", "student", "arm"], sort=False):
        acc = {int(p): fmt_pct(v) for p, v in zip(g["percentile"], g["accuracy"])}
        tok = {int(p): f"{v:.0f}" for p, v in zip(g["percentile"], g["tokens_mean"])}
        rows.append([family, f"{student} {arm_word(arm)}"] + [f"{acc.get(int(p), '—')} ({tok.get(int(p), '—')})"
                                                            for p in pcts])
    return ("<p class=\"muted\">Accuracy (mean generated tokens) if answers were cut at the p-th "
            "percentile of their benchmark's answer lengths; answers longer than the cut count as "
            "incorrect.</p>" + _table(["family", "point"] + [f"p = {int(p)}" for p in pcts], rows, left=2))


def _seed_html(a: Analysis) -> str:
    sp = a.seed_spread
    if sp.empty:
        return "<p>One seed per configuration (no <code>seed</code> column with several values).</p>"
    rows = [[r["family"], f"{r['student']} {arm_word(r['arm'])}", r["n_seeds"], fmt_pct(r["mean"]),
             f"{100 * r['std']:.2f}", f"{fmt_pct(r['min'])}–{fmt_pct(r['max'])}"] for _, r in sp.iterrows()]
    return _table(["family", "point", "seeds", "mean", "std (points)", "range"], rows, left=2)


_METHODS_HTML = """<ul>
<li><b>Frontier</b>: a point is on it when no other point has ≥ accuracy at ≤ cost (one strict);
exact duplicates are all kept. Costs: training FLOPs of the run, mean inference FLOPs per query, or
total = training + Q × inference for Q queries.</li>
<li><b>Compute equivalence</b> k = cost of the target point B / cost at which arm A reaches B's
accuracy. <i>Measured</i>: A's cheapest measured point at least as accurate. <i>Interpolated</i>:
along A's own frontier, linear in (log10 FLOPs, accuracy), never below A's cheapest point.
<i>Fitted</i>: inverse of A's fitted curve. Targets at or below the trivial baseline are skipped.</li>
<li><b>Saturating fits</b>: f(x) = α + β(1 − exp(−γ·x^δ)) with x = log10(C / C0), C0 one tenth of the
family's cheapest cost on the axis; α, β &gt; 0, α + β ≤ teacher accuracy (or 1), γ &gt; 0,
0 &lt; δ ≤ 1; mean absolute error minimised from several starts; at least 4 points.</li>
<li><b>Bootstrap</b>: prompts resampled with replacement within each benchmark, the same draw for
every point (paired); training FLOPs fixed, inference FLOPs resampled. Without per-sample answers:
binomial draws from accuracy and n. Intervals are 95% percentile intervals.</li>
<li><b>Break-even Q</b>: the number of queries at which two points' total costs are equal.</li>
</ul>"""


def write_report(
    analysis: Analysis,
    out_dir: Path,
    *,
    title: str,
    config: dict | None = None,
    notes: list[str] | None = None,
    sections: list[ReportSection] | None = None,
    dpi: int = 110,
) -> Path:
    """Write ``report.html`` (self-contained) and its companions under ``out_dir`` from ``analysis`` (a
    :func:`~scale_or_reason.analysis.pipeline.run_analysis` result); return the report's path.

    ``config`` is shown as pretty JSON in the report; ``notes`` (caveats such as "synthetic run") appear
    under the title; ``sections`` (``ReportSection``, written by the study's stages: teacher, training,
    evaluation) are joined under "Study stages". Nothing is computed here that the analysis did not: the
    report renders its facts.

    Example::

        path = write_report(run_analysis(results), Path("out"), title="My study", notes=["Tiny CPU students."])
    """
    if not isinstance(analysis, Analysis):
        raise TypeError("write_report takes the Analysis of run_analysis(results, answers, ...), not a table")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = analysis.results
    a = analysis
    agg = a.agg
    figures = plot_all(results, out_dir / "figures", dpi=dpi, fits=a.fits, answers=a.answers,
                       teacher_accuracy=a.teacher_accuracy, early=a.early_stop)
    gaps = figure_gaps(results, a.answers)

    with atomic_path(out_dir / "results.csv") as tmp:
        agg.to_csv(tmp, index=False)
    with atomic_path(out_dir / "results.parquet") as tmp:
        agg.to_parquet(tmp, index=False)
    atomic_write_text(
        out_dir / "frontiers.json",
        json.dumps([f.to_dict() for f in a.frontiers], indent=2, ensure_ascii=False) + "\n",
    )
    summary = a.to_dict()
    atomic_write_text(out_dir / "analysis.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    tables = {
        "fits.csv": pd.DataFrame([f.to_dict() for f in a.fits.fits]),
        "equivalences.csv": pd.DataFrame([e.to_dict() for lst in a.equivalences.values() for e in lst]),
        "uncertainty.csv": a.uncertainty_table() if a.boot.n_boot else pd.DataFrame(),
        "early_stopping.csv": a.early_stop,
    }
    for name, df in tables.items():
        with atomic_path(out_dir / name) as tmp:
            df.to_csv(tmp, index=False)

    from scale_or_reason import __version__

    notes_html = (
        "<div class=\"notes\"><ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul></div>"
        if notes else ""
    )
    teacher_html = ""
    if a.teacher_accuracy:
        teacher_html = "<p>Teacher accuracy (cap of the fits): " + _e(", ".join(
            f"{f} {fmt_pct(v)}" for f, v in a.teacher_accuracy.items())) + ".</p>"
    body = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>{_e(title)}</h1>
<p class="muted">scale-or-reason {_e(__version__)} analysis report: {len(agg)} (student, arm, family)
points from {len(results)} result rows{'' if a.answers is None else f' and {len(a.answers)} per-sample answers'}.
Frontiers and verdicts use learned measured points only (95% interval above the trivial baseline); fitted and interpolated numbers are labelled as such.</p>
{notes_html}
<h2 id="answer">The answer</h2>
<ul>{"".join(f"<li>{_e(v.answer)}</li>" for v in a.verdicts)}</ul>
<p class="muted">Statistics: a point counts as learned when the lower end of its 95% interval clears its
trivial baseline; {_e(HEADLINE_RULE)}; a win at equal size needs non-overlapping 95% Wilson intervals.</p>
{figures_html(figures, gaps, only=("train_flops",)) if figures.get("train_flops") else ""}
<details><summary><h2 id="verdicts" style="display:inline">Verdicts, family by family</h2></summary>
{_verdicts_html(a.verdicts)}
</details>
<h2>Figures</h2>
{figures_html(figures, gaps, skip=("train_flops",) if figures.get("train_flops") else ())}
<h2>Compute equivalences</h2>
<p class="muted">A reaches B's accuracy with k× less compute (measured points; the same target by
interpolation and by the fitted curves alongside). Largest k first.</p>
{_equivalences_html(a)}
<h2>Total cost by number of queries</h2>
<p class="muted">Total cost = training FLOPs + Q × inference FLOPs per query. The frontier is the
same within each range of Q; the boundaries are break-even numbers of queries.</p>
{_regimes_html(a)}
<h2>Fitted curves</h2>
{teacher_html}
{_fits_html(a)}
<h2>Uncertainty</h2>
{_uncertainty_html(a)}
<h3>Seed spread</h3>
{_seed_html(a)}
<h2>Early stopping (App. H)</h2>
{_early_html(a)}
<h2>Results by family</h2>
<p class="muted">Accuracy pooled over the family's benchmarks (weighted by n) with the 95% Wilson
interval of the pooled count; FLOPs as recorded (training: whole run; inference: mean per query).</p>
{_results_table_html(agg)}
<h2>Generated tokens: reasoning / IFT</h2>
<p class="muted">Ratio of mean generated tokens per query, reasoning arm over IFT arm, at equal size.</p>
{_ratio_table_html(token_ratios(agg))}
<h2>Methods</h2>
{_METHODS_HTML}
<h2>FLOPs convention</h2>
{_convention_html(agg)}
{_sections_html(sections or [])}
<h2>Study configuration</h2>
{_config_html(config)}
</body>
</html>
"""
    return atomic_write_text(out_dir / "report.html", body)
