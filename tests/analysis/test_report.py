"""The HTML report on a synthetic study with per-sample answers and curricula: every figure of the
paper, the tables, companion files, and a real headless browser (Chromium) loading every image.

The browser test skips when ``/usr/bin/chromium`` is missing, unless ``SOR_REQUIRE_CHROMIUM=1``
(CI), where a missing browser is a failure."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from scale_or_reason.analysis import aggregate_by_family, paper_table1, run_analysis, write_report
from scale_or_reason.analysis.figures import figure_gaps
from scale_or_reason.analysis.report import figures_html
from scale_or_reason.records import RESULTS_COLUMNS
from tests.analysis.synthetic_answers import synthetic_study

CHROMIUM = Path("/usr/bin/chromium")
FIGURE_STEMS = {
    "train_flops": "accuracy_vs_train_flops", "inference_flops": "accuracy_vs_inference_flops",
    "tokens": "generated_tokens", "token_factor": "token_factor_vs_gain",
    "length_correct": "length_correct_vs_incorrect", "rho_accuracy": "rho_accuracy",
    "rho_tokens": "rho_tokens", "inference_scaling": "inference_flops_vs_size",
    "early_stopping": "early_stopping",
}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    results, answers = synthetic_study(n_prompts=30)
    out = tmp_path_factory.mktemp("report")
    analysis = run_analysis(results, answers, queries=[1e3, 1e9], teacher_accuracy={"Math-OE": 0.9},
                            n_boot=200, seed=0)
    path = write_report(analysis, out, title="Test <study> & co", config={"profile": "quick", "seed": 0},
                        notes=["<b>synthetic</b> tasks"])
    return results, answers, analysis, out, path


def test_report_has_every_figure_embedded(report):
    _, _, _, out, path = report
    page = path.read_text(encoding="utf-8")
    imgs = re.findall(r"<img\b[^>]*>", page)
    assert len(imgs) == len(FIGURE_STEMS)
    assert all('src="data:image/png;base64,' in tag for tag in imgs)
    for key, stem in FIGURE_STEMS.items():
        assert f'id="fig-{key}"' in page
        png, svg = out / "figures" / f"{stem}.png", out / "figures" / f"{stem}.svg"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", stem
        assert "<svg" in svg.read_text(encoding="utf-8")[:2000], stem
    assert "Figures not drawn" not in page
    assert not list(out.rglob("*.tmp*"))


def test_report_is_self_contained_and_ordered(report):
    _, _, _, _, path = report
    page = path.read_text(encoding="utf-8")
    assert 'src="http' not in page and 'href="http' not in page and "<script" not in page
    assert "Test &lt;study&gt; &amp; co" in page and "<b>synthetic</b>" not in page
    order = ["The answer", "Verdicts, family by family", "Figures", "Compute equivalences",
             "Total cost by number of queries", "Fitted curves", "Uncertainty", "Early stopping (App. H)",
             "Results by family", "Methods", "FLOPs convention", "Study configuration"]
    headings = re.findall(r"<h2[^>]*>(.*?)</h2>", page)
    positions = [headings.index(k) for k in order]
    assert positions == sorted(positions)
    assert "&quot;profile&quot;: &quot;quick&quot;" in page
    # the report leads with the answer: one sentence per family, then the training-FLOPs frontier figure,
    # before the detailed verdicts (folded)
    answer = page[page.index(">The answer</h2>"):page.index("<img")]
    assert answer.count("<li>") == 2 and "Math-OE:" in answer and "95% interval clears" in answer
    assert page.index("<img") < page.index(">Verdicts, family by family</h2>") < page.index("</details>")
    verdicts = page[page.index(">Verdicts, family by family</h2>"):page.index("</details>")]
    assert "reaches" in verdicts and "bootstrap 95% CI of the ratio" in verdicts
    assert "Bootstrap probability of being on it" in verdicts
    assert "Teacher accuracy (cap of the fits): Math-OE 90.0%" in page
    assert "Q = 1e+09" in page


def test_report_companion_files(report):
    results, _, analysis, out, _ = report
    agg = aggregate_by_family(results)
    parquet = pd.read_parquet(out / "results.parquet")
    assert list(parquet.columns) == list(RESULTS_COLUMNS) and len(parquet) == len(agg) == 2 * 5 * 6
    assert parquet["n"].tolist() == [60] * len(parquet)  # two benchmarks of 30 prompts pooled
    fr = json.loads((out / "frontiers.json").read_text())
    assert fr == [f.to_dict() for f in analysis.frontiers]
    full = json.loads((out / "analysis.json").read_text())
    assert {"frontiers", "total_cost_frontiers", "fits", "equivalences", "uncertainty", "early_stopping",
            "verdicts", "text", "regimes", "power_laws"} <= set(full)
    assert len(full["total_cost_frontiers"]) == 2 * 2
    fits = pd.read_csv(out / "fits.csv")
    assert len(fits) == 2 * 6 * 2 and (fits["alpha"] + fits["beta"] <= fits["ceiling"] + 1e-9).all()
    eqs = pd.read_csv(out / "equivalences.csv")
    assert set(eqs["method"]) == {"measured", "interpolated", "fitted"}
    unc = pd.read_csv(out / "uncertainty.csv")
    assert set(unc["source"]) == {"answers"} and unc["p_frontier_train_flops"].between(0, 1).all()
    es = pd.read_csv(out / "early_stopping.csv")
    assert sorted(es["percentile"].unique()) == [0, 25, 50, 75, 100]


def test_report_renders_in_headless_chromium(report, tmp_path):
    """Open a copy of the report in headless Chromium and check every image decoded.

    The copy gets a small probe script (the report itself has none) that, after the load event,
    writes each ``<img>``'s ``complete`` and ``naturalWidth`` into the DOM, which ``--dump-dom``
    prints. A deliberately broken image is added to the copy to prove the probe can fail.
    """
    if not CHROMIUM.exists():
        if os.environ.get("SOR_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"SOR_REQUIRE_CHROMIUM=1 but {CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"headless Chromium not installed ({CHROMIUM} missing; apt-get install chromium, "
                    f"or set SOR_REQUIRE_CHROMIUM=1 to make this a failure)")
    _, _, _, _, path = report
    page = path.read_text(encoding="utf-8")
    probe = """<img id="sor-broken" alt="broken on purpose" src="data:image/png;base64,AAAAAAAA">
<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var pre = document.createElement('pre');
  pre.id = 'sor-probe';
  pre.textContent = JSON.stringify(imgs.map(function (i) {
    return {id: i.id, ok: i.complete && i.naturalWidth > 0 && i.naturalHeight > 0, w: i.naturalWidth};
  }));
  document.body.appendChild(pre);
});
</script>
</body>"""
    copy = tmp_path / "probe.html"
    copy.write_text(page.replace("</body>", probe), encoding="utf-8")
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom",
           copy.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    m = re.search(r'<pre id="sor-probe">(.*?)</pre>', proc.stdout, re.S)
    assert m, f"no probe output from Chromium (exit {proc.returncode}): {proc.stderr[-2000:]}"
    images = json.loads(html.unescape(m.group(1)))
    report_imgs = [i for i in images if i["id"] != "sor-broken"]
    assert len(report_imgs) == len(FIGURE_STEMS)
    assert all(i["ok"] and i["w"] > 100 for i in report_imgs), report_imgs
    assert [i["ok"] for i in images if i["id"] == "sor-broken"] == [False]
    assert "Verdicts" in proc.stdout and "Compute equivalences" in proc.stdout


def test_missing_figures_are_explained():
    results, _ = synthetic_study(families=("Math-OE",), arms=("ift", "reasoning"), n_prompts=8,
                                 benchmarks=("a",))
    gaps = figure_gaps(results, None)
    assert set(gaps) == {"rho_accuracy", "rho_tokens", "early_stopping"}
    assert gaps["rho_accuracy"] == "no sequential:ρ or mixed:ρ arm in the results"
    assert "per-sample answers" in gaps["early_stopping"]
    text = figures_html({"train_flops": []}, {"train_flops": "no row has a positive train_flops"})
    assert "Figures not drawn" not in text  # nothing drawn at all: a single line says so
    assert "No figures" in text
    t1 = figure_gaps(paper_table1(), None)
    assert {"train_flops", "tokens", "token_factor", "length_correct", "early_stopping"} <= set(t1)
    assert "inference_flops" not in t1 and "inference_scaling" not in t1
