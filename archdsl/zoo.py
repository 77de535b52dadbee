"""The zoo: the specs that ship in the package, found by name.

`archdsl compile resnet50`, `archdsl.build("resnet50")` and `extends: archdsl::resnet50`
all name a file of the zoo. The repository's specs/ directory is the source; a wheel
carries it as archdsl/specs (pyproject.toml maps it there). Run from a checkout, the
package has no specs/ directory of its own and the repository's is the zoo.

`archdsl::NAME` is mmengine's `scope::path` convention: the scope `archdsl` is this
package, so the reference means the same file from any directory.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

SCOPE = "archdsl::"
SUFFIXES = (".yaml", ".yml")
_PACKAGE = Path(__file__).resolve().parent


def directory() -> Path:
    """The directory of the zoo's spec files."""
    packaged = _PACKAGE / "specs"
    return packaged if packaged.is_dir() else _PACKAGE.parent / "specs"


def names() -> list[str]:
    """The name of every spec in the zoo (its file name without `.yaml`), sorted."""
    return sorted(p.stem for p in directory().iterdir()
                  if p.suffix in SUFFIXES and p.is_file())


def is_reference(text: str) -> bool:
    """Whether `text` is written `archdsl::NAME`."""
    return text.startswith(SCOPE)


def name_of(text: str) -> str:
    """`archdsl::resnet50`, `resnet50.yaml` or `resnet50` -> `resnet50`."""
    name = text[len(SCOPE):] if is_reference(text) else text
    for suffix in SUFFIXES:
        name = name.removesuffix(suffix)
    return name


def path(name: str) -> Path | None:
    """The spec file of zoo spec `name` (any form name_of takes); None if there is none."""
    name = name_of(name)
    if not name or not all(c.isalnum() or c in "_-." for c in name):
        return None
    for suffix in SUFFIXES:
        found = directory() / f"{name}{suffix}"
        if found.is_file():
            return found
    return None


def resolve(spec: str) -> str:
    """The file `spec` names: an existing path wins, then a zoo name (`resnet50`) or
    `archdsl::NAME`; anything else comes back unchanged, for the caller to report."""
    if is_reference(spec) or not (os.path.exists(spec) or spec.endswith(SUFFIXES)):
        found = path(spec)
        if found is not None:
            return str(found)
    return spec


def contains(file: str | os.PathLike) -> bool:
    """Whether `file` is a file in the zoo's directory (by real path)."""
    if not os.path.isfile(file):
        return False
    zoo = os.path.realpath(directory())
    return os.path.commonpath([zoo, os.path.realpath(file)]) == zoo


def close_names(text: str) -> list[str]:
    """Zoo names that look like `text`, closest first."""
    return difflib.get_close_matches(name_of(text), names(), n=4, cutoff=0.6)


def unknown(text: str) -> str:
    """The sentence that says where to look for a zoo name that `text` is not."""
    close = close_names(text)
    if close:
        return "did you mean " + ", ".join(f"`{SCOPE}{n}`" if is_reference(text) else
                                           f"`{n}`" for n in close) + "?"
    return "`archdsl list` shows the specs of the zoo"


__all__ = ["SCOPE", "directory", "names", "is_reference", "name_of", "path", "resolve",
           "contains", "close_names", "unknown"]
