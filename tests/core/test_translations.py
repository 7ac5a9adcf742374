"""Our Chinese catalog (core/translations/zh): complete, compiled, and used next to Flask-AppBuilder's own.

When a test here fails, run scripts/translations, fill in the empty msgstr in
core/translations/zh/LC_MESSAGES/messages.po, run the script again and commit the .po and the .mo."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOG_DIR = ROOT / "core" / "translations"
PO = CATALOG_DIR / "zh" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
# Same keywords as scripts/translations (pybabel's defaults plus -k lazy_gettext -k _l).
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None}
FIX = "run scripts/translations, translate the empty msgstr in the .po, run it again and commit the .po and .mo"


def _read_po():
    with PO.open("rb") as f:
        return read_po(f, locale="zh")


def _translations(catalog) -> dict:
    """msgid -> msgstr of the messages that end up in a compiled catalog (no header, no fuzzy, no empty)."""
    # A plural message is keyed by its singular msgid (as extraction reports it); read_mo gives lists, read_po tuples.
    return {(m.id[0] if isinstance(m.id, (list, tuple)) else m.id):
            (tuple(m.string) if isinstance(m.string, (list, tuple)) else m.string)
            for m in catalog if m.id and m.string and not m.fuzzy}


def test_every_catalog_message_is_translated():
    catalog = _read_po()
    untranslated = [m.id for m in catalog if m.id and (not m.string or m.fuzzy
                                                        or (isinstance(m.string, tuple) and not all(m.string)))]
    assert not untranslated, f"untranslated or fuzzy in {PO.relative_to(ROOT)}: {untranslated}; {FIX}"
    problems = [(message.id, [str(e) for e in errors]) for message, errors in catalog.check()]
    assert not problems, f"placeholders of msgid and msgstr differ: {problems}"


def test_compiled_catalog_matches_po():
    assert MO.exists(), f"{MO.relative_to(ROOT)} is missing; {FIX}"
    compiled = BytesIO()
    write_mo(compiled, _read_po())
    compiled.seek(0)
    with MO.open("rb") as f:
        on_disk = read_mo(f)
    assert _translations(on_disk) == _translations(read_mo(compiled)), f"{MO.relative_to(ROOT)} is stale; {FIX}"


def test_every_extracted_message_is_in_the_catalog():
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f, str(ROOT / "babel.cfg"))
    extracted = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS):
        msgid = message[0] if isinstance(message, tuple) else message
        extracted.setdefault(msgid, f"{filename}:{lineno}")
    assert "Active franchises" in extracted, "extraction found none of our messages: check babel.cfg"
    translated = _translations(_read_po())
    missing = {msgid: where for msgid, where in extracted.items() if msgid not in translated}
    assert not missing, f"messages in the source without a Chinese translation: {missing}; {FIX}"


def _text(response) -> str:
    assert response.status_code == 200, response.data[:500]
    return response.get_data(as_text=True)


def test_pages_are_chinese_by_default_with_fab_strings_too(client_for):
    client = client_for("hq")
    home = _text(client.get("/"))
    assert "<h2>首页</h2>" in home
    assert "在营加盟商" in home  # widget title, a lazy_gettext string in core/dashboard.py
    assert "组织架构" in home and "审计日志" in home  # our menu labels
    plugins = _text(client.get("/plugins/"))
    assert "<h2>插件</h2>" in plugins
    assert "全部加盟商" in plugins
    regions = _text(client.get("/regionview/list/"))
    assert "编码" in regions  # our column label
    assert "搜索" in regions  # Flask-AppBuilder's own catalog still answers for its strings


def test_english_is_selectable(client_for):
    client = client_for("hq")
    assert client.get("/lang/en").status_code == 302
    home = _text(client.get("/"))
    assert "<h2>Home</h2>" in home and "Active franchises" in home
    assert "首页" not in home


@pytest.mark.parametrize("locale, expected", [("zh", "只有总部可以创建加盟商。"),
                                              ("en", "Only HQ can create franchises.")])
def test_lazy_messages_follow_the_request_locale(app, locale, expected):
    from flask_babel import force_locale, lazy_gettext

    with app.test_request_context("/"), force_locale(locale):
        assert str(lazy_gettext("Only HQ can create franchises.")) == expected
