"""Canonical tag names: the one Python canonicaliser (SQL uses the macro ``canonical_tag``).

Both read ``tag_canonical`` (``sql/marts/tag_canonical.sql``): every active alias's antecedent
mapped to its final name, chains followed, names on a cycle left as they are.
"""

from __future__ import annotations

from collections.abc import Callable

from .catalog import Catalog


def normalise(name: str) -> str:
    """A name as boards store it: lower case, no surrounding blanks."""
    return name.strip().lower()


def canonical_map(cat: Catalog) -> dict[str, str]:
    """Every aliased name -> its canonical name. A catalog made before ``tag_canonical`` existed
    (opened read-only, so not yet migrated) gets its chains followed here."""
    if cat.has_table("tag_canonical") and cat.scalar("SELECT count(*) FROM tag_canonical"):
        return dict(cat.rows("SELECT name, canonical FROM tag_canonical"))
    if not cat.has_table("tag_aliases"):
        return {}
    return follow_chains(cat.rows("SELECT antecedent, consequent FROM tag_aliases WHERE status = 'active'"))


def follow_chains(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """antecedent -> final consequent for active alias pairs; names on a cycle map to themselves."""
    step = {a: c for a, c in sorted(pairs) if a != c}
    out = {}
    for start in step:
        seen, name = {start}, step[start]
        while name in step and name not in seen:
            seen.add(name)
            name = step[name]
        out[start] = start if name in seen else name
    return out


def canonicaliser(cat: Catalog) -> Callable[[str], str]:
    """A function mapping any tag name to the name the catalog stores it under."""
    mapping = canonical_map(cat)

    def canonical(name: str) -> str:
        name = normalise(name)
        return mapping.get(name, name)

    return canonical
