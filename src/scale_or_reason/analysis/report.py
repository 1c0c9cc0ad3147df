"""The analysis report: one self-contained HTML file plus machine-readable tables.

``write_report`` writes, under ``out_dir``:

* ``report.html`` — verdicts first, then the figures (embedded as base64 PNG data URIs, no
  external assets), the per-family results table, the reasoning/IFT token-ratio table, the FLOPs
  convention and the study configuration. Every piece of text is HTML-escaped.
* ``results.csv`` and ``results.parquet`` — the family-aggregated results (``RESULTS_COLUMNS``).
* ``frontiers.json`` — ``[Frontier.to_dict(), ...]``.
* ``figures/`` — each figure as PNG and SVG.

``analyze`` returns the same frontiers and verdicts as a JSON-able dict (what ``sor analyze``
prints). All files are written atomically.

Example::

    from pathlib import Path
    from scale_or_reason.analysis.report import analyze, write_report
    path = write_report(results, Path("sor-study/report"), title="Demo study",
                        config={"profile": "quick"}, notes=["Synthetic tasks, not the paper's."])
    summary = analyze(results)   # {"families": [...], "frontiers": [...], "verdicts": [...], ...}
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import pandas as pd

from scale_or_reason.analysis._common import (
    IFT,
    REASONING,
    arm_kind,
    atomic_path,
    atomic_write_text,
    finite,
    fmt_flops,
    fmt_params,
    fmt_pct,
    fmt_tokens,
    jsonable,
    ordered_families,
    ordered_students,
)
from scale_or_reason.analysis.frontier import aggregate_by_family, frontiers
from scale_or_reason.analysis.plots import plot_all
from scale_or_reason.analysis.verdicts import render_verdicts, verdicts

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
    ("train_flops", "Accuracy vs training FLOPs, one panel per family. Step line: frontier of "
                    "measured points; dashed line: trivial baseline; bars: 95% Wilson intervals."),
    ("inference_flops", "Accuracy vs inference FLOPs per evaluated query, one panel per family."),
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


def _verdicts_html(items: list[dict[str, Any]]) -> str:
    if not items:
        return "<p>No results to judge.</p>"
    parts = []
    for v in items:
        conv = f" — FLOPs convention <code>{_e(v['convention'])}</code>" if v.get("convention") else ""
        parts.append(
            f"<h3>{_e(v['family'])}</h3><p class=\"muted\">{len(v['students'])} students; arms: "
            f"{_e(', '.join(v['arms']))}{conv}</p><ul>"
            + "".join(f"<li>{_e(s)}</li>" for s in v["sentences"])
            + "</ul>"
        )
    return "\n".join(parts)


def _figures_html(paths: dict[str, list[Path]]) -> str:
    parts = []
    for key, caption in _FIGURES:
        pngs = [p for p in paths.get(key, []) if Path(p).suffix == ".png"]
        for png in pngs:
            data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
            parts.append(
                f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{_e(caption)}</figcaption></figure>"
            )
    return "\n".join(parts) if parts else "<p>No figures (empty results table).</p>"


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


def analyze(results: pd.DataFrame) -> dict[str, Any]:
    """Frontiers and verdicts as one JSON-able dict (strict JSON: NaN becomes ``None``).

    Keys: ``families``, ``conventions``, ``frontiers`` (``Frontier.to_dict()`` list), ``verdicts``
    (see :func:`verdicts`) and ``text`` (the verdicts rendered as plain text).

    Example::

        import json
        print(json.dumps(analyze(results), indent=2))
    """
    agg = aggregate_by_family(results)
    v = verdicts(agg)
    return jsonable(
        {
            "families": ordered_families(agg) if not agg.empty else [],
            "conventions": sorted({c for c in agg["convention"].astype(str) if c and c != "nan"}),
            "frontiers": [f.to_dict() for f in frontiers(agg)],
            "verdicts": v,
            "text": render_verdicts(v),
        }
    )


def write_report(
    results: pd.DataFrame,
    out_dir: Path,
    *,
    title: str,
    config: dict | None = None,
    notes: list[str] | None = None,
) -> Path:
    """Write ``report.html`` (self-contained) and its companions under ``out_dir``; return its path.

    ``config`` is shown as pretty JSON in the report; ``notes`` (caveats such as "synthetic run")
    appear under the title. See the module docstring for the files written.

    Example::

        path = write_report(results, Path("out"), title="My study", notes=["Tiny CPU students."])
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    agg = aggregate_by_family(results)
    fronts = frontiers(agg)
    items = verdicts(agg)
    figures = plot_all(agg, out_dir / "figures")

    with atomic_path(out_dir / "results.csv") as tmp:
        agg.to_csv(tmp, index=False)
    with atomic_path(out_dir / "results.parquet") as tmp:
        agg.to_parquet(tmp, index=False)
    atomic_write_text(
        out_dir / "frontiers.json",
        json.dumps([f.to_dict() for f in fronts], indent=2, ensure_ascii=False) + "\n",
    )

    from scale_or_reason import __version__

    notes_html = (
        "<div class=\"notes\"><ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul></div>"
        if notes else ""
    )
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
points from {len(results)} result rows. All comparisons use measured points only.</p>
{notes_html}
<h2>Verdicts</h2>
{_verdicts_html(items)}
<h2>Figures</h2>
{_figures_html(figures)}
<h2>Results by family</h2>
<p class="muted">Accuracy pooled over the family's benchmarks (weighted by n) with the 95% Wilson
interval of the pooled count; FLOPs as recorded (training: whole run; inference: mean per query).</p>
{_results_table_html(agg)}
<h2>Generated tokens: reasoning / IFT</h2>
<p class="muted">Ratio of mean generated tokens per query, reasoning arm over IFT arm, at equal size.</p>
{_ratio_table_html(token_ratios(agg))}
<h2>FLOPs convention</h2>
{_convention_html(agg)}
<h2>Study configuration</h2>
{_config_html(config)}
</body>
</html>
"""
    return atomic_write_text(out_dir / "report.html", body)
