"""curate.toml: defaults, relative paths, and errors that name the file, key and value."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from curation.config import Config, load_config
from curation.errors import ConfigError


def write(ws: Path, text: str) -> Path:
    ws.mkdir(parents=True, exist_ok=True)
    (ws / "curate.toml").write_text(text, encoding="utf-8")
    return ws


def test_empty_config_gets_every_default(tmp_path):
    cfg = load_config(write(tmp_path, ""))
    assert cfg == Config()
    assert cfg.select.drop_deleted and cfg.select.drop_banned and not cfg.select.drop_flagged
    assert cfg.embed.model == "timm:efficientnet_lite0"
    assert (cfg.split.train, cfg.split.val, cfg.split.test) == (0.8, 0.1, 0.1)
    assert cfg.tagger.folds == 5
    assert cfg.runner.kind == "local"


def test_sources_resolve_relative_to_the_workspace(tmp_path):
    ws = write(
        tmp_path / "ws", '[[sources]]\npath = "../dump/posts*.json"\nformat = "danbooru2021"\nimages = "../dump/original"\n'
    )
    (src,) = load_config(ws).sources
    assert src.path == tmp_path / "dump" / "posts*.json"  # absolute and normalised: no ".."
    assert src.images == tmp_path / "dump" / "original"
    assert src.format == "danbooru2021"


def test_toml_dates_and_ranges(tmp_path):
    cfg = load_config(write(tmp_path, "[select]\ncreated_after = 2010-01-01\nid_mod_1000 = [[0, 899]]\n"))
    assert cfg.select.created_after == dt.date(2010, 1, 1)
    assert cfg.select.id_mod_1000 == [[0, 899]]


def test_unknown_key_names_file_section_and_key(tmp_path):
    ws = write(tmp_path, "[select]\nmin_widht = 512\n")
    with pytest.raises(ConfigError) as err:
        load_config(ws)
    assert str(err.value) == f"{ws / 'curate.toml'}: unknown key [select] min_widht"


def test_wrong_type_names_key_and_value(tmp_path):
    ws = write(tmp_path, '[select]\nmin_width = "512"\n')
    with pytest.raises(ConfigError) as err:
        load_config(ws)
    assert str(err.value) == f"{ws / 'curate.toml'}: [select] min_width = '512': Input should be a valid integer"


def test_bad_choice_in_a_source_names_the_entry(tmp_path):
    ws = write(tmp_path, '[[sources]]\npath = "a"\nformat = "danbooru2021"\n\n[[sources]]\npath = "b"\nformat = "gelbooru"\n')
    with pytest.raises(ConfigError, match=r"\[\[sources\]\] #2 format = 'gelbooru': Input should be 'danbooru2021'"):
        load_config(ws)


def test_unknown_section(tmp_path):
    with pytest.raises(ConfigError, match="unknown key selection$"):
        load_config(write(tmp_path, "[selection]\nmin_width = 1\n"))


def test_value_checks(tmp_path):
    with pytest.raises(ConfigError, match=r"\[split\]: train \+ val \+ test must be 1, got 1.1"):
        load_config(write(tmp_path, "[split]\ntrain = 0.9\n"))
    with pytest.raises(ConfigError, match=r"\[select\] id_mod_1000 = \[\[900, 1200\]\]: range \[900, 1200\]"):
        load_config(write(tmp_path, "[select]\nid_mod_1000 = [[900, 1200]]\n"))
    with pytest.raises(ConfigError, match=r"\[dedupe\] phash_radius = 80: Input should be less than or equal to 64"):
        load_config(write(tmp_path, "[dedupe]\nphash_radius = 80\n"))
    with pytest.raises(ConfigError, match=r"\[select\] ratings.0 = 'x'"):
        load_config(write(tmp_path, '[select]\nratings = ["x"]\n'))


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match=r"curate.toml: no such file \(create one with `curate init"):
        load_config(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="curate.toml: not valid TOML"):
        load_config(write(tmp_path, "[select\n"))
    (tmp_path / "curate.toml").write_bytes(b"dataset = '\xff'\n")
    with pytest.raises(ConfigError, match="not UTF-8|not valid TOML"):
        load_config(tmp_path)


def test_memory_limit_must_be_a_size(tmp_path):
    assert load_config(write(tmp_path, '[runner]\nduckdb_memory_limit = "2GB"\n')).runner.duckdb_memory_limit == "2GB"
    with pytest.raises(ConfigError, match=r"\[runner\] duckdb_memory_limit = 'lots': String should match pattern"):
        load_config(write(tmp_path, '[runner]\nduckdb_memory_limit = "lots"\n'))


def test_every_key_has_a_note_and_the_starter_and_docs_follow_the_models(tmp_path):
    """Defaults are stated once (the models): the starter config and docs/configuration.md are
    generated from them, and every key has a note."""
    import re
    import tomllib

    from curation.config import Config
    from curation.config_notes import EXPERT, NOTES, SECTIONS, reference_markdown, starter_sections

    config = Config()
    fields = {(s, k) for s in SECTIONS for k in type(getattr(config, s)).model_fields}
    assert fields == set(NOTES)  # no key without a note, no note without a key
    assert EXPERT < fields
    starter = starter_sections()
    for section, key in fields:  # every key but the expert thresholds is shown
        block = ("\n" + starter).split(f"\n[{section}]\n")[1].split("\n\n[")[0]
        assert bool(re.search(rf"^(# )?{key} = ", block, re.M)) == ((section, key) not in EXPERT), (section, key)
    uncommented = tomllib.loads("\n".join(line[2:] if re.match(r"# \w+ = ", line) else line for line in starter.splitlines()))
    for section, key in fields - EXPERT:  # every value shown is the default (or, for keys unset by default, an example)
        default = getattr(getattr(config, section), key)
        if default is not None:
            assert uncommented[section][key] == (default if not hasattr(default, "__fspath__") else str(default)), (section, key)
    docs = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    between = docs.split("<!-- keys:start -->\n")[1].split("<!-- keys:end -->")[0]
    assert between == reference_markdown(), "docs/configuration.md is stale: regenerate it from curation.config_notes"


def test_component_options_take_their_defaults_from_the_config_models():
    from curation.dedupe.edges import Radii
    from curation.tagger.evidence import EvidenceOptions
    from curation.tagger.heads import TrainOptions

    defaults = Config()
    assert Radii() == Radii.from_config(defaults.dedupe)
    assert EvidenceOptions() == EvidenceOptions.from_config(defaults.tagger)
    assert TrainOptions() == TrainOptions.from_config(defaults.tagger, seed=0)
