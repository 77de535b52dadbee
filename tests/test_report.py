"""`archdsl report`: one self-contained HTML page, its data, and its safety.

These tests read the page as text; tests/test_report_browser.py opens it in
Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import pytest

import archdsl
from archdsl.report import embed_json, render_report
from conftest import ROOT, SPECS

pytestmark = pytest.mark.skipif(shutil.which("dot") is None,
                                reason="the report needs Graphviz's dot (apt install graphviz)")

HOSTILE = """archdsl: 1
name: hostile
doc: "</script><script>document.title='pwned'</script> <!-- & \\u2028"
input: [3, 8, 8]
network:
  - conv1: conv(4, 3)  # </script><img src=x onerror=alert(1)>
  - relu
"""


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text of each <script>."""

    def __init__(self):
        super().__init__()
        self.tags, self.scripts, self._in_script = [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def _parse(page: str) -> _Tags:
    tags = _Tags()
    tags.feed(page)
    return tags


def _data(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>',
                      page, re.S)
    assert match, "no data block"
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def resnet18_page() -> str:
    return render_report([archdsl.load(SPECS / "resnet18.yaml")])


def test_page_requests_nothing(resnet18_page):
    tags = _parse(resnet18_page)
    links = [(t, a) for t, a in tags.tags if {"src", "href"} & set(a)]
    assert links == []
    assert {t for t, _ in tags.tags} >= {"html", "style", "script"}
    assert not [t for t, _ in tags.tags if t in ("link", "img", "iframe", "object", "embed")]
    code = re.sub(r'<script type="application/json".*?</script>', "", resnet18_page, flags=re.S)
    # The one URL in the page's own code is SVG's namespace name, which is never fetched.
    assert re.findall(r"https?://[^\s\"'`]+", code) == ["http://www.w3.org/2000/svg"]
    assert "@import" not in code and not re.search(r"url\((?!#)", code)
    assert not re.search(r"\b(fetch|XMLHttpRequest|WebSocket|EventSource|import\()", code)
    assert "default-src 'none'" in resnet18_page  # and the browser is told to refuse any


def test_data_is_the_checked_graph(resnet18_page):
    data = _data(resnet18_page)
    assert data["mode"] == "single"
    (net,) = data["networks"]
    items = net["items"]
    conv = items["layer2.0.conv1"]
    assert conv["shape"] == [128, 28, 28] and conv["params"] == 64 * 128 * 9
    assert conv["parent"] == "layer2.0" and conv["kind"].startswith("conv(")
    source = net["sources"][conv["span"][0]]
    assert "conv1: conv(planes * k, 3" in source["lines"][conv["span"][1] - 1]
    stage = items["layer2"]
    assert stage["scope"] and stage["kind"] == "stage" and stage["shape"] == [128, 28, 28]
    stages = {r["name"]: r for r in net["stages"]}
    assert stage["params"] == stages["layer2"]["params"]
    assert items[""]["params"] == net["totals"]["params"] == 11_689_512
    assert [r["name"] for r in net["stages"]][:5] == ["conv1", "bn1", "relu", "maxpool", "layer1"]


def test_every_scope_is_laid_out(resnet18_page):
    net = _data(resnet18_page)["networks"][0]
    scopes = {k for k, it in net["items"].items() if it.get("scope")}
    assert set(net["views"]) == scopes
    root = net["views"][""]
    assert [b[0] for b in root["boxes"]][:3] == ["<input>", "conv1", "bn1"]
    assert "layer4" in [b[0] for b in root["boxes"]]
    block = net["views"]["layer2.0"]
    names = [b[0] for b in block["boxes"]]
    assert names[0] == "<in>" and names[-1] == "<out>" and "layer2.0.downsample" in names
    for key, x, y, w, h in block["boxes"]:
        assert 0 < x < block["w"] and 0 < y < block["h"] and w > 0 and h > 0, key
    # conv1 and the shortcut both read the block's input: two edges leave "in"
    ins = [b for b in block["boxes"] if b[0] == "<in>"][0]
    starts = [e[:2] for e in block["edges"]]
    assert sum(abs(x - ins[1]) < ins[3] and abs(y - ins[2]) < ins[4] for x, y in starts) == 2


def test_hostile_text_stays_data(tmp_path):
    spec = tmp_path / "hostile.yaml"
    spec.write_text(HOSTILE)
    page = render_report([archdsl.load(spec)])
    tags = _parse(page)
    assert [t for t, _ in tags.tags].count("script") == 2
    assert [t for t, _ in tags.tags].count("img") == 0
    assert page.count("</script>") == 2 and "<!--" not in page
    data = _data(page)
    assert data["networks"][0]["sources"][0]["lines"] == HOSTILE.splitlines()


def test_embed_json_escapes_markup():
    text = embed_json({"a": "</script><!--&\u2028"})
    assert not re.search("[<>&\u2028]", text)
    assert json.loads(text) == {"a": "</script><!--&\u2028"}


def test_diff_mode_carries_the_weight_report():
    a, b = archdsl.load(SPECS / "resnet18.yaml"), archdsl.load(SPECS / "resnet34.yaml")
    data = _data(render_report([a, b]))
    assert data["mode"] == "diff" and [n["name"] for n in data["networks"]] == \
        ["resnet18", "resnet34"]
    assert "layer1.2" in data["networks"][1]["items"]
    assert "layer1.2" not in data["networks"][0]["items"]
    weights = data["diff"]["weights"]
    assert "layer1.2.conv1.weight" in weights["new"] and weights["gone"] == []
    assert "layer1.0.conv1.weight" in weights["unchanged"]
    assert data["diff"]["totals"]["params"]["delta"] == 21_797_672 - 11_689_512


def test_compare_mode_draws_the_chart():
    archs = [archdsl.load(SPECS / f"{n}.yaml") for n in ("resnet18", "resnet34", "alexnet")]
    page = render_report(archs, compare=True)
    data = _data(page)
    assert data["mode"] == "compare" and len(data["networks"]) == 3
    assert [r["spec"] for r in data["compare"]] == ["resnet18", "resnet34", "alexnet"]
    chart = re.search(r'<svg class="chart".*?</svg>', page, re.S).group()
    assert chart.count("<circle") == 3 and ">alexnet</text>" in chart


def test_more_than_two_need_compare():
    archs = [archdsl.load(SPECS / "resnet18.yaml")] * 3
    with pytest.raises(ValueError, match="compare"):
        render_report(archs)


@pytest.mark.slow
def test_largest_spec_renders_compactly():
    page = render_report([archdsl.load(SPECS / "preact_resnet1001.yaml")])
    net = _data(page)["networks"][0]
    ops = [k for k, it in net["items"].items() if not it.get("scope") and k != "<input>"]
    assert len(ops) == 3339
    assert len(net["views"][""]["boxes"]) < 12  # collapsed: the stages are single boxes
    assert len(page) < 4_000_000


def test_cli_writes_next_to_cwd(cli, tmp_path, monkeypatch):
    code, out, err = cli("report", str(SPECS / "resnet18.yaml"), "--set", "k=2",
                         "-o", str(tmp_path / "r.html"))
    assert code == 0, err
    net = _data((tmp_path / "r.html").read_text())["networks"][0]
    assert net["items"]["layer1.0.conv1"]["shape"] == [128, 56, 56]
    monkeypatch.chdir(tmp_path)
    assert archdsl.cli.main(["report", str(SPECS / "resnet18.yaml")]) == 0
    assert (tmp_path / "resnet18.report.html").is_file()


@pytest.mark.parametrize("args", [["specs/resnet18.yaml"] * 3, ["nope.yaml"]])
def test_cli_usage_errors(cli, args, tmp_path):
    code, out, err = cli("report", *args, "-o", str(tmp_path / "r.html"))
    assert code == 2 and "archdsl: error:" in err
    assert not (tmp_path / "r.html").exists()


def test_cli_never_writes_over_the_spec_it_reads(cli, tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_bytes((SPECS / "resnet18.yaml").read_bytes())
    code, out, err = cli("report", str(spec), "-o", str(spec))
    assert code == 2 and "which this command reads" in err
    assert spec.read_bytes() == (SPECS / "resnet18.yaml").read_bytes()


def test_cli_invalid_spec(cli, tmp_path):
    code, out, err = cli("report", "tests/broken/groups.yaml", "-o", str(tmp_path / "r.html"))
    assert code == 1 and "E0401" in err


def test_cli_without_graphviz(cli, tmp_path, monkeypatch):
    monkeypatch.setattr("archdsl.report.layout.shutil.which", lambda name: None)
    code, out, err = cli("report", "specs/resnet18.yaml", "-o", str(tmp_path / "r.html"))
    assert code == 2 and "apt install graphviz" in err
    assert not (tmp_path / "r.html").exists()


def test_report_does_not_import_torch(tmp_path):
    probe = ("import sys; from archdsl.cli import main; "
             f"code = main(['report', 'specs/resnet18.yaml', 'specs/resnet34.yaml', '-o', "
             f"{str(tmp_path / 'd.html')!r}]); print(code, 'torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.stdout.split()[-2:] == ["0", "False"], result.stderr
