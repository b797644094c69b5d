"""Format detection for `curate init`, on synthetic dumps and the real files in ../shared/data."""

from __future__ import annotations

import json

import pytest

from curation.errors import SourceError, UnknownFormat
from curation.ingest.detect import detect, detect_file


def test_synth_boards_are_detected_whole(board2021, board2017, board_e621):
    formats = {s.format for s in detect(board2021)}
    assert formats == {"danbooru2021", "tags", "aliases", "implications"}
    posts = next(s for s in detect(board2021) if s.format == "danbooru2021")
    assert posts.path.name == "posts0*.json*" and posts.images == board2021 / "original"
    assert {s.format for s in detect(board2017)} == {"danbooru2017", "aliases", "implications"}
    assert {s.format for s in detect(board_e621)} == {"e621", "tags", "aliases", "implications"}


def test_real_reference_files(shared_data):
    d = shared_data / "danbooru"
    assert detect_file(d / "tag_aliases.csv") == "aliases"
    assert detect_file(shared_data / "e621" / "tag_implications.csv") == "implications"
    assert detect_file(d / "tags.csv") == "tags"
    assert detect_file(d / "selected_tags_2380.csv") == "tags"
    assert detect_file(shared_data / "e621" / "tags.csv") == "tags"


def test_api_array_and_unknowns(tmp_path):
    api = tmp_path / "posts.json"
    api.write_text(json.dumps([{"id": 1, "md5": "x", "tag_string_general": "a", "media_asset": {}}]))
    assert detect_file(api) == "danbooru_api"
    odd = tmp_path / "odd.csv"
    odd.write_text("foo,bar\n1,2\n")
    with pytest.raises(UnknownFormat, match=r"odd.csv: unrecognised columns \['foo', 'bar'\]"):
        detect_file(odd)
    empty = tmp_path / "empty.json"
    empty.write_text("")
    with pytest.raises(UnknownFormat, match="empty, or neither JSON nor CSV"):
        detect_file(empty)
    with pytest.raises(SourceError, match="no such file or folder"):
        detect(tmp_path / "nope")
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(UnknownFormat, match="no dump files found"):
        detect(tmp_path / "emptydir")
