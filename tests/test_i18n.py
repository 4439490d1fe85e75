"""Chinese first: every message has its Chinese, the language follows --lang / REUNITE_LANG / LANG, stored
evidence is shown in the reader's language, and a caseworker's day reads in Chinese from end to end."""

from __future__ import annotations

import csv
import json
import re

import pytest
from babel.messages.pofile import read_po

from reunite import i18n
from reunite.cli import app
from reunite.i18n import CATALOG, Phrase, fields, language_from_env, local_time, phrase_parts, shown

ENGLISH_CODES = re.compile(r"distinctive_same_place|same_prefecture|same_county|accent_consistent|found_near")


def catalog() -> dict[str, str]:
    with open(CATALOG, "rb") as fh:
        return {m.id: m.string for m in read_po(fh) if m.id}


@pytest.fixture
def chinese(monkeypatch):
    monkeypatch.setenv("REUNITE_LANG", "zh")
    i18n.set_language("zh")


def test_every_message_has_its_chinese_with_the_same_placeholders():
    zh = catalog()
    wanted = i18n.code_messages()
    missing = sorted(m for m in wanted if not zh.get(m))
    assert not missing, f"{len(missing)} message(s) without Chinese (run `python -m reunite.i18n`): {missing[:5]}"
    wrong = [m for m in wanted if fields(m) != fields(zh[m])]
    assert not wrong, f"translations that change the placeholders: {wrong[:5]}"
    stale = sorted(set(zh) - wanted)
    assert not stale, f"catalog entries no code uses any more (run `python -m reunite.i18n`): {stale[:5]}"


def test_the_help_of_every_command_and_option_is_in_the_catalog():
    assert i18n.help_texts() <= set(catalog())


@pytest.mark.parametrize(
    "env, lang",
    [
        ({}, "zh"),
        ({"LANG": "C.UTF-8"}, "zh"),
        ({"LANG": "zh_CN.UTF-8"}, "zh"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LC_ALL": "en_GB.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),
        ({"LANG": "en_US.UTF-8", "REUNITE_LANG": "zh"}, "zh"),
        ({"REUNITE_LANG": "en"}, "en"),
        ({"REUNITE_LANG": "fr", "LANG": "zh_CN"}, "zh"),
    ],
)
def test_the_language_follows_the_environment(env, lang):
    assert language_from_env(env) == lang


def test_a_phrase_is_english_as_stored_and_chinese_when_shown(chinese):
    text = Phrase("found {days} days after", days=12) + Phrase(
        "; surname {surname} {share:.2%} of people ({adj:+.1f})", surname="刘", share=0.055, adj=-0.9
    )
    assert str(text) == "found 12 days after; surname 刘 5.50% of people (-0.9)"
    parts = json.loads(json.dumps(phrase_parts(text)))  # as a candidate row stores it
    assert shown(str(text), parts) == "走失 12 天后被发现；刘姓占人口 5.50%（-0.9）"
    i18n.set_language("en")
    assert shown(str(text), parts) == str(text)
    assert shown("plain text", None) == "plain text"


def test_times_are_shown_on_the_station_clock(monkeypatch):
    assert local_time("2024-06-19T02:03:04.123Z") == "2024-06-19 10:03"
    monkeypatch.setenv("REUNITE_TZ", "Asia/Urumqi")
    assert local_time("2024-06-19T02:03:04Z") == "2024-06-19 08:03"
    assert local_time("") == "" and local_time("not a time") == "not a time"


def test_help_is_chinese_by_default_and_english_on_request(runner, monkeypatch):
    monkeypatch.delenv("REUNITE_LANG")
    monkeypatch.setenv("LANG", "C.UTF-8")
    zh = runner.invoke(app, ["review", "--help"])
    assert zh.exit_code == 0 and "记录对一对候选的审核结论" in zh.output and "撤回" in zh.output
    assert "用法：" in zh.output and "显示本帮助后退出" in zh.output and "选项" in zh.output
    en = runner.invoke(app, ["--lang", "en", "review", "--help"])
    assert "Record a decision on a pair" in en.output and "记录" not in en.output
    after = runner.invoke(app, ["review", "--help", "--lang", "en"])  # a global option after the subcommand
    assert "Record a decision on a pair" in after.output
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    assert "Record a decision on a pair" in runner.invoke(app, ["review", "--help"]).output
    assert runner.invoke(app, ["--lang", "fr", "status"]).exit_code == 2


def test_a_caseworkers_day_reads_in_chinese(runner, matched, tmp_path, chinese):
    """Ingest, match, the shortlist, a pair's waterfall, a decision, the history, the exports, the report and
    the audit, as a caseworker sees them with no language set: Chinese, no English level codes."""
    home = ["--home", str(matched.workspace.root)]
    bad = tmp_path / "r.csv"
    bad.write_text("编号,姓名,性别,目测年龄\nR8,王秀英,女,很老\n", encoding="utf-8")
    ingest = runner.invoke(app, [*home, "ingest", "residents", str(bad)])
    assert ingest.exit_code == 3 and "字段未能解析，该行已保存" in ingest.output and "不是年龄" in ingest.output
    rejects = next((matched.workspace.root / "exports" / "rejects").glob("*.csv"))
    header = next(csv.reader(rejects.open(encoding="utf-8-sig")))
    assert header == ["文件", "行号", "编号", "字段", "原值", "原因", "处理结果"]
    match = runner.invoke(app, [*home, "match", "--all"])
    assert match.exit_code == 0 and "保存" in match.output
    shortlist = runner.invoke(app, [*home, "candidates", "--resident", "R1", "--top-k", "3"])
    assert "R1 ~ M1  第1名  分值" in shortlist.output and "姓名方言音近" in shortlist.output
    explain = runner.invoke(app, [*home, "explain", "R1", "M1"])
    assert "比较项" in explain.output and "姓名方言音近" in explain.output and "匹配分值" in explain.output
    assert not ENGLISH_CODES.search(explain.output)
    review = runner.invoke(app, [*home, "review", "R1", "M1", "--decision", "referred", "--note", "送公安"])
    assert review.exit_code == 0 and "已移交公安核查" in review.output
    history = runner.invoke(app, [*home, "history", "R1"])
    assert "已移交公安核查" in history.output and "有效" in history.output
    out = tmp_path / "police.csv"
    assert runner.invoke(app, [*home, "export", "--out", str(out), "--resident", "R1"]).exit_code == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    first = next(r for r in rows if r["寻亲编号"] == "M1")
    assert first["审核结论"] == "已移交公安核查" and first["登记类型"] == "寻亲登记"
    assert "姓名方言音近" in first["证据"] and not ENGLISH_CODES.search(first["证据"])
    assert "四川省南充市" in first["证据"]  # places by name, the code beside
    page = tmp_path / "cards.html"
    assert runner.invoke(app, [*home, "export", "--format", "html", "--out", str(page)]).exit_code == 0
    html = page.read_text(encoding="utf-8")
    assert "寻亲比对候选名单（供公安核查）" in html and "姓名方言音近" in html and not ENGLISH_CODES.search(html)
    report = runner.invoke(app, [*home, "report"])
    assert "月份" in report.output and "移交核查" in report.output
    audit = runner.invoke(app, [*home, "audit"])
    assert "R1 ~ M1" in audit.output and "审核: 已移交公安核查" in audit.output  # external ids, in words
    status = runner.invoke(app, [*home, "status"])
    assert "在站" in status.output and "最近一次任务" in status.output
    english = runner.invoke(app, [*home, "--lang", "en", "candidates", "--resident", "R1", "--top-k", "1"])
    assert "weight" in english.output and "分值" not in english.output


def test_a_rejects_file_and_an_alert_file_in_english_on_request(runner, matched, tmp_path):
    bad = tmp_path / "r.csv"
    bad.write_text("编号,姓名,目测年龄\nR8,王秀英,很老\n", encoding="utf-8")
    runner.invoke(app, ["--home", str(matched.workspace.root), "ingest", "residents", str(bad)])
    rejects = next((matched.workspace.root / "exports" / "rejects").glob("*.csv"))
    assert next(csv.reader(rejects.open(encoding="utf-8-sig")))[:3] == ["file", "row", "id"]


def test_no_module_rebinds_the_translation_function():
    """`src, _, eid = x.partition(":")` in a module that translates with `_` breaks every message after it in
    that function (a TypeError at the worst moment: an error message). Throwaway names are `_name` there."""
    import ast
    from pathlib import Path

    import reunite

    bad = []
    for path in Path(reunite.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imports_it = any(
            isinstance(n, ast.ImportFrom) and n.module == "reunite.i18n" and any(a.name == "_" for a in n.names)
            for n in ast.walk(tree)
        )
        if not imports_it:
            continue
        comprehension_targets = {
            id(t) for c in ast.walk(tree) if isinstance(c, ast.comprehension) for t in ast.walk(c.target)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Name)
                and node.id == "_"
                and isinstance(node.ctx, ast.Store)
                and id(node) not in comprehension_targets
            ):
                bad.append(f"{path.name}:{node.lineno}")
    assert not bad, f"`_` rebound where it translates: {bad}"


def test_no_message_is_hidden_inside_an_f_string():
    """The extractor reads `_("...")` calls, not text inside an f-string: a message there never reaches the
    catalog and shows in English. Messages are taken out of f-strings."""
    from pathlib import Path

    import reunite

    hidden = re.compile(r"""f(["']).*\{[^}]*\b_\(\s*["']""")
    bad = [
        f"{path.name}:{n}"
        for path in Path(reunite.__file__).parent.rglob("*.py")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if hidden.search(line)
    ]
    assert not bad, f"messages inside f-strings: {bad}"


@pytest.mark.parametrize(
    "args, chinese",
    [
        (["review", "R1"], "缺少参数 'missing'。"),
        (["candidates", "--frobnicate"], "没有选项 '--frobnicate'。"),
        (["review", "R1", "M1", "--decision", "maybe"], "--decision 的值无效：可选：rejected"),
    ],
)
def test_usage_errors_are_chinese_too(runner, tmp_path, args, chinese, monkeypatch):
    monkeypatch.setenv("REUNITE_LANG", "zh")
    r = runner.invoke(app, ["--home", str(tmp_path), *args])
    assert r.exit_code == 2 and chinese in r.output, r.output
    monkeypatch.setenv("REUNITE_LANG", "en")
    assert "Error" in runner.invoke(app, ["--home", str(tmp_path), *args]).output


def test_resolve_place_says_how_it_read_the_place(runner, monkeypatch):
    monkeypatch.setenv("REUNITE_LANG", "zh")
    zh = runner.invoke(app, ["resolve-place", "湖北襄樊"])
    assert zh.exit_code == 0 and "湖北省襄阳市 [420600]：旧名（'襄樊'" in zh.output
    en = runner.invoke(app, ["--lang", "en", "resolve-place", "贺南上水", "--accent", "河南口音"])
    assert "河南省周口市商水县 [411623]: sounds the same ('上水', confidence" in en.output
