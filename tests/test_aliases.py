"""One canonicaliser: an alias chain a -> b -> c is followed the same way by ingest, the select
filters, label tags, moderators' decisions, external tagger names and evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import catalog_rows, set_config

from curation.catalog import open_catalog
from curation.decisions import read as read_decisions
from curation.decisions import record as record_decisions
from curation.ingest import ingest
from curation.select import select
from curation.suggest import review
from curation.tagger.external import canonical_names
from curation.tags import canonicaliser, follow_chains
from curation.workspace import init_workspace

POST = {"created_at": "2020-01-02T03:04:05Z", "rating": "s", "file_ext": "png", "image_width": 64, "image_height": 64}
TAGS = {1: "nekomimi solo", 2: "cat_ear solo", 3: "cat_ears", 4: "solo", 5: "loop_a solo"}
ALIASES = [  # nekomimi -> cat_ear -> cat_ears; loop_a <-> loop_b is a cycle
    ("nekomimi", "cat_ear", "active"),
    ("cat_ear", "cat_ears", "active"),
    ("loop_a", "loop_b", "active"),
    ("loop_b", "loop_a", "active"),
    ("solo", "alone", "deleted"),
]


@pytest.fixture()
def ws(tmp_path) -> Path:
    dump = tmp_path / "dump"
    dump.mkdir()
    rows = [
        {**POST, "id": i, "md5": f"{i:032x}", "tag_string_general": t, "tag_string_artist": "someone"} for i, t in TAGS.items()
    ]
    (dump / "posts000000000000.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    lines = ["antecedent_name,consequent_name,status", *(",".join(a) for a in ALIASES)]
    (dump / "tag_aliases.csv").write_text("\n".join(lines) + "\n")
    ws = tmp_path / "ws"
    init_workspace(ws, [dump / "posts000000000000.json", dump / "tag_aliases.csv"])
    report = ingest(ws)
    assert report.alias_cycles == ["loop_a", "loop_b"]
    return ws


def test_follow_chains_known_answer():
    assert follow_chains([("a", "b"), ("b", "c"), ("x", "y"), ("y", "x"), ("c", "c")]) == {"a": "c", "b": "c", "x": "x", "y": "y"}


def test_the_catalog_persists_every_alias_with_chains_followed_and_cycles_marked(ws):
    rows = catalog_rows(ws, "SELECT name, canonical, hops, cycle FROM tag_canonical ORDER BY name")
    assert rows == [
        ("cat_ear", "cat_ears", 1, False),
        ("loop_a", "loop_a", 2, True),
        ("loop_b", "loop_b", 2, True),
        ("nekomimi", "cat_ears", 2, False),
    ]
    tags = catalog_rows(ws, "SELECT post_id, t.name FROM post_tags JOIN tags t USING (tag_id) ORDER BY 1, 2")
    assert [p for p, t in tags if t == "cat_ears"] == [1, 2, 3]
    assert (5, "loop_a") in tags  # a name on a cycle keeps its own
    assert catalog_rows(ws, "SELECT canonical_tag(' NekoMimi '), canonical_tag('solo')") == [("cat_ears", "solo")]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"require_tags": ["nekomimi"]}, [1, 2, 3]),
        ({"require_tags": ["Cat_Ear", "solo"]}, [1, 2]),
        ({"exclude_tags": ["nekomimi"]}, [4, 5]),
    ],
)
def test_select_filters_follow_the_chain(ws, settings, expected):
    set_config(ws, select=settings)
    select(ws)
    assert [r[0] for r in catalog_rows(ws, "SELECT post_id FROM selection ORDER BY 1")] == expected


def test_drop_tags_follow_the_chain(ws):
    set_config(ws, select={"drop_tags": ["nekomimi"]})
    select(ws)
    labels = {r[0] for r in catalog_rows(ws, "SELECT name FROM selected_tags")}
    assert "cat_ears" not in labels and "solo" in labels


def test_decisions_are_stored_and_applied_under_the_final_name(ws):
    select(ws)
    recorded, _ = review(ws, accept=["4:nekomimi:add"], reject=["1:CAT_EAR:remove"], moderator="mod")
    assert recorded == 2
    assert sorted(r[:4] for r in read_decisions(ws)) == [(1, "cat_ears", "remove", "reject"), (4, "cat_ears", "add", "accept")]
    # a decision recorded under a name that becomes an alias later is re-canonicalised by the next stage
    record_decisions(ws, [(5, "cat_ear", "add", "accept", "mod", None, "")])
    select(ws)  # any stage that writes the catalog brings the journal in
    assert (5, "cat_ears", "add") in {r[:3] for r in catalog_rows(ws, "SELECT post_id, tag, action FROM decisions")}


def test_external_tagger_names_and_evaluation_follow_the_chain(ws):
    with open_catalog(ws, read_only=True) as cat:
        assert canonical_names(cat, ["nekomimi", "Cat_Ear", "solo", "loop_b"]) == ["cat_ears", "cat_ears", "solo", "loop_b"]
        canonical = canonicaliser(cat)  # what curate evaluate suggest maps the truth's names with
        assert canonical("nekomimi") == "cat_ears"


def test_a_stage_given_a_context_uses_its_config_and_reads_no_file(ws):
    """The stage context is built once and passed down: the stage and its helpers use the
    config it carries, not a fresh read of curate.toml."""
    from curation.config import with_settings
    from curation.context import StageContext, stage_context

    ctx = stage_context(ws)
    assert stage_context(ctx) is ctx
    narrowed = StageContext(ctx.workspace, with_settings(ctx.config, select={"require_tags": ["nekomimi"]}))
    (ws / "curate.toml").rename(ws / "curate.toml.away")  # a read of the file would now fail
    try:
        select(narrowed)
    finally:
        (ws / "curate.toml.away").rename(ws / "curate.toml")
    assert [r[0] for r in catalog_rows(ws, "SELECT post_id FROM selection ORDER BY 1")] == [1, 2, 3]
