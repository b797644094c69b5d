"""Dump tag strings to tag ids (curation.ingest.tag_split): tokens on any whitespace across the
category columns, known names by id, unknown names added once each with the category their
columns gave most often, Arrow chunks and output growth, checked against a plain-Python split."""

from __future__ import annotations

import collections

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.catalog import Catalog
from curation.ingest import kernels, tag_split
from curation.ingest.canonical import DumpTags
from curation.ingest.tag_split import TAG_COLUMNS, staged_tag_ids

COLUMNS = [name for name, _ in TAG_COLUMNS]


def staged(rows: list[dict], known: dict[str, int], chunk_rows: int | None = None) -> Catalog:
    """A catalog with the known tags and a stg_staged of rows ({post_id, c0.., bare})."""
    cat = Catalog(None)
    cat.run("staging/macros")
    cat.con.execute("CREATE TEMP TABLE tag_category_names (category_id INTEGER, category VARCHAR)")
    cat.con.executemany("INSERT INTO tag_category_names VALUES (?, ?)", [(0, "general"), (1, "artist"), (4, "character")])
    if known:
        cat.con.executemany("INSERT INTO tags VALUES (?, ?, 0, 'general', 0)", [(i, n) for n, i in known.items()])
    table = pa.table(
        {
            "post_id": pa.array([r["post_id"] for r in rows], pa.int64()),
            **{c: pa.array([r.get(c) for r in rows], pa.string()) for c in COLUMNS},
        }
    )
    if chunk_rows:
        table = pa.Table.from_batches(table.to_batches(max_chunksize=chunk_rows))
    cat.con.register("stg_tag_arrow", table)
    cat.con.execute("CREATE TEMP VIEW stg_tagged AS SELECT *, NULL::VARCHAR AS reject_reason FROM stg_tag_arrow")
    cat.run("staging/stg_staged")
    return cat


def python_split(rows: list[dict]) -> list[list[tuple[str, int | None]]]:
    """Each post's (name, category) tokens the slow way, in column order."""
    return [[(name, category) for column, category in TAG_COLUMNS for name in (r.get(column) or "").split()] for r in rows]


def split(cat: Catalog) -> DumpTags:
    """staged_tag_ids' parts joined, checked to hold distinct posts each."""
    parts = staged_tag_ids(cat)
    for part in parts:
        assert len(set(part.post_ids.tolist())) == len(part.post_ids)
    if not parts:
        return DumpTags(*(np.zeros(0, np.int64) for _ in range(3)))
    return DumpTags(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("post_ids", "counts", "tag_ids")))


def names_of(cat: Catalog) -> dict[int, tuple[str, int | None]]:
    return {i: (n, c) for i, n, c in cat.rows("SELECT tag_id, name, category_id FROM tags")}


def test_known_and_unknown_names_across_columns_and_whitespace():
    rows = [
        {"post_id": 7, "c0": "1girl  solo\tlong_hair", "c1": "some_artist", "c4": "hatsune_miku"},
        {"post_id": 3, "c0": "", "bare": " solo  new_tag\n"},
        {"post_id": 9},  # no tags at all
        {"post_id": 5, "c0": "new_tag new_tag", "c1": "new_artist", "c4": "новый_тег"},
        {"post_id": 4, "bare": "new_artist"},  # a bare use does not outvote the artist column
    ]
    known = {"1girl": 1, "solo": 2, "long_hair": 3, "some_artist": 40, "hatsune_miku": 50}
    cat = staged(rows, known)
    result = split(cat)
    assert result.post_ids.tolist() == [7, 3, 9, 5, 4]
    assert result.counts.tolist() == [5, 2, 0, 4, 1]
    tags = names_of(cat)
    got = [tags[t][0] for t in result.tag_ids]
    assert got == [n for post in python_split(rows) for n, _ in post]
    assert got[:5] == ["1girl", "solo", "long_hair", "some_artist", "hatsune_miku"]
    assert [tags[t] for t in result.tag_ids[:5]] == [
        ("1girl", 0),
        ("solo", 0),
        ("long_hair", 0),
        ("some_artist", 0),
        ("hatsune_miku", 0),
    ]  # known tags keep their own category
    new = {n: (i, c) for i, (n, c) in tags.items() if n not in known}
    assert set(new) == {"new_tag", "new_artist", "новый_тег"}
    assert new["new_tag"][1] == 0 and new["new_artist"][1] == 1 and new["новый_тег"][1] == 4
    assert min(i for i, _ in new.values()) > max(known.values())  # ids after the largest known one
    assert len({i for i, _ in new.values()}) == 3


def test_a_name_only_in_bare_strings_has_no_category():
    cat = staged([{"post_id": 1, "bare": "mystery"}], {})
    result = split(cat)
    assert names_of(cat)[int(result.tag_ids[0])] == ("mystery", None)


@pytest.mark.parametrize("known_share", [1.0, 0.5, 0.0])
def test_many_posts_in_several_chunks_match_a_plain_split(known_share, monkeypatch):
    """Thousands of unknown names (the unknown-name table grows), one-letter names (the output
    grows past its first guess), several Arrow batches, some without unknown names: the same
    ids a plain split finds."""
    monkeypatch.setattr(tag_split, "STRING_BATCH_ROWS", 400)
    rng = np.random.default_rng(3)
    vocabulary = [f"t{i}" for i in range(6000)] + list("abcdefghij")
    rows = []
    for post in range(3000):
        early = post < 1200  # names from the first half only: known when half the names are
        picks = rng.choice(3000 if early else len(vocabulary), size=rng.integers(0, 30))
        row = {
            "post_id": 1000 + post,
            "c0": " ".join(vocabulary[p] for p in picks[::2]),
            "c1": " ".join(vocabulary[p] for p in picks[1::2]),
        }
        if post % 7 == 0 and not early:
            row["bare"] = "a b c d e f g h i j a b c d e f g h i j"
        rows.append(row)
    known = {n: 10 + i for i, n in enumerate(vocabulary) if i < known_share * len(vocabulary)}
    cat = staged(rows, known, chunk_rows=700)
    assert len(staged_tag_ids(staged(rows, known))) == 8  # 400 rows a batch
    result = split(cat)
    tags = names_of(cat)
    expected = python_split(rows)
    assert result.counts.tolist() == [len(p) for p in expected]
    assert [tags[t][0] for t in result.tag_ids] == [n for p in expected for n, _ in p]
    # every unknown name once in tags, with its most used column's category
    uses = collections.defaultdict(collections.Counter)
    for post in expected:
        for name, category in post:
            if name not in known and category is not None:
                uses[name][category] += 1
    by_name = {n: c for n, c in tags.values()}
    assert len(by_name) == len(tags)
    for name, counter in uses.items():
        assert counter[by_name[name]] == max(counter.values())


def test_an_empty_staging_gives_empty_arrays():
    cat = staged([], {"solo": 1})
    result = split(cat)
    assert len(result.post_ids) == len(result.counts) == len(result.tag_ids) == 0


def test_name_table_finds_every_name_and_nothing_else():
    names = pa.array(["", "a", "ab", "ba", "solo", "long_hair"])
    offsets, data = tag_split._string_buffers(names)
    slots = kernels.name_table(offsets, data)
    probe = np.frombuffer(b"solo ab x ba SoLo Ab", np.uint8)
    for start, stop, want in ((0, 4, 4), (5, 7, 2), (8, 9, -1), (10, 12, 3), (13, 17, 4), (18, 20, 2)):
        h = kernels.token_hash(probe, start, stop)
        assert kernels.lookup(slots, offsets, tag_split._FOLD[data], h, probe, start, stop) == want


def test_the_splitter_stops_before_a_post_that_might_not_fit_and_resumes_there():
    names = pa.array(["a", "bb"])
    name_offsets, name_data = tag_split._string_buffers(names)
    slots = kernels.name_table(name_offsets, name_data)
    posts = pa.array(["a bb", "bb\x01zz a", "a"])
    offsets, data = tag_split._string_buffers(posts)
    known_ids = np.array([10, 20], np.int32)
    counts = np.zeros(3, np.int64)
    tags = np.full(4, -9, np.int32)  # post 0 fits (at most 2 tokens), post 1 might need 4 more rows
    post, k, unknown = kernels.split_known(offsets, data, slots, name_offsets, name_data, known_ids, tags, counts, 0, 0)
    assert (post, k, unknown) == (1, 2, 0) and tags[:2].tolist() == [10, 20]
    grown = np.concatenate([tags[:k], np.empty(8, np.int32)])
    post, k, unknown = kernels.split_known(offsets, data, slots, name_offsets, name_data, known_ids, grown, counts, post, k)
    assert (post, k, unknown) == (3, 6, 1)
    assert grown[:k].tolist() == [10, 20, 20, -1, 10, 10] and counts.tolist() == [2, 3, 1]


def test_a_kernel_refuses_an_array_of_the_wrong_type():
    names = pa.array(["a"])
    offsets, data = tag_split._string_buffers(names)
    with pytest.raises(TypeError, match="int64"):
        kernels.name_table(offsets.astype(np.int32), data)
    with pytest.raises(TypeError, match="contiguous"):
        kernels.resolve(np.zeros(8, np.int32)[::2], np.zeros(1, np.int32))


# names over bytes that probe the word-at-a-time scan: ASCII capitals and the bytes either side
# of them ('@', '[', '`', '{'), control bytes that are not separators, UTF-8, lengths about 8
NAME_CHARS = st.sampled_from(["a", "z", "A", "Z", "@", "[", "`", "{", "_", "\x00", "\x02", "\x1f", "é", "ß"])
SEPARATOR_RUNS = st.text(alphabet=st.sampled_from([" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x01"]), min_size=1, max_size=3)


def folded_ascii(name: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in name)


@settings(max_examples=300, deadline=None)
@given(
    names=st.lists(st.text(alphabet=NAME_CHARS, min_size=1, max_size=20), min_size=1, max_size=12, unique=True),
    posts=st.lists(
        st.tuples(st.booleans(), st.lists(st.tuples(st.integers(0, 30), st.booleans(), SEPARATOR_RUNS), max_size=8)), max_size=6
    ),
)
def test_the_word_at_a_time_split_matches_a_plain_split(names, posts):
    """Tokens that are known names whatever their ASCII case get the name's id; anything else
    is unknown (-1); a post's end ends a token, though the next post's bytes follow at once."""
    known = sorted({folded_ascii(n) for n in names})
    name_offsets, name_data = tag_split._string_buffers(pa.array(known))
    slots = kernels.name_table(name_offsets, name_data)
    name_data = tag_split._FOLD[name_data]
    known_ids = np.arange(100, 100 + len(known), dtype=np.int32)
    strings, expected = [], []
    for leading_space, tokens in posts:
        text, want = "", []
        for pick, upper, gap in tokens:
            word = names[pick % len(names)] if pick < 2 * len(names) else f"zz{pick}"
            word = "".join(c.upper() if upper and c.isascii() else c for c in word)
            text += word + gap
            folded = folded_ascii(word)
            want.append(100 + known.index(folded) if folded in known else -1)
        strings.append(" " * leading_space + text.rstrip(" \t\n\r\x0b\x0c\x01"))
        expected.append(want)
    offsets, data = tag_split._string_buffers(pa.array(strings))
    counts = np.zeros(len(strings), np.int64)
    tags = np.full(len(data) + 1, -9, np.int32)
    post, k, unknown = kernels.split_known(offsets, data, slots, name_offsets, name_data, known_ids, tags, counts, 0, 0)
    assert post == len(strings)
    assert counts.tolist() == [len(w) for w in expected]
    assert tags[:k].tolist() == [t for w in expected for t in w]
    assert unknown == sum(t == -1 for w in expected for t in w)


def test_a_post_ends_its_last_token_at_every_length():
    """Each post's last name runs right up to the next post's first letter, at every length
    either side of the 8-byte words the splitter reads."""
    known = [("x" * n)[:-1] + "q" for n in range(1, 26)]
    name_offsets, name_data = tag_split._string_buffers(pa.array(known))
    slots = kernels.name_table(name_offsets, name_data)
    strings = [f"ab {name}" for name in known] + ["ab"]
    offsets, data = tag_split._string_buffers(pa.array(strings))
    counts = np.zeros(len(strings), np.int64)
    tags = np.empty(len(data), np.int32)
    known_ids = np.arange(len(known), dtype=np.int32)
    post, k, unknown = kernels.split_known(
        offsets, data, slots, name_offsets, tag_split._FOLD[name_data], known_ids, tags, counts, 0, 0
    )
    assert (post, unknown) == (len(strings), len(strings))  # only "ab" is unknown
    assert tags[:k].tolist() == [t for n in range(len(known)) for t in (-1, n)] + [-1]
