"""What the items of a list say about the names of the members they place.

These read the syntax tree only, before anything is placed: whether a list is
positional, which names it gives, which auxiliary heads it declares.
"""

from __future__ import annotations

from archdsl.lang import items as it


def positional(item: it.Item | None) -> bool:
    """A list whose elements carry no names fills an nn.Sequential-like module."""
    if isinstance(item, it.Seq):
        if item.items and all(residual_names(e) for e in item.items):
            return False
        return not any(names_itself(e) for e in item.items if not isinstance(e, it.Seq))
    if isinstance(item, it.Branches):  # unnamed paths: members 0, 1, … (a ModuleList)
        return not any(names_itself(p) for p in item.paths)
    return isinstance(item, it.Repeat) and not names_itself(item)


def names_itself(item: it.Item) -> bool:
    """Whether placing `item` in a list gives that list a named member."""
    if isinstance(item, it.Named):
        return True
    if isinstance(item, it.Repeat):
        return item.name is not None or names_itself(item.body)
    if isinstance(item, it.Cond):
        return any(names_itself(b) for b in (item.then, item.orelse) if b is not None)
    if isinstance(item, it.Seq):
        return any(names_itself(e) for e in item.items)
    return False


def residual_names(item: it.Item) -> bool:
    """A residual whose layers are named: in a list of such residuals only (a ViT
    block's two), the layers are the list's members."""
    return isinstance(item, it.Residual) and any(
        names_itself(p) for p in (item.body, item.shortcut, item.post) if p is not None)


def explicit_names(item: it.Item | None) -> set[str]:
    """Names the spec gives to members placed in one module (for fresh-name allocation)."""
    if isinstance(item, it.Named):
        return {item.name} if isinstance(item.name, str) else set()
    if isinstance(item, it.Seq):
        return set().union(*(explicit_names(e) for e in item.items)) if item.items else set()
    if isinstance(item, it.Residual):
        return set().union(*(explicit_names(p) for p in (item.body, item.shortcut, item.post)))
    if isinstance(item, it.Branches):
        return set().union(*(explicit_names(p) for p in item.paths))
    if isinstance(item, it.Cond):
        return explicit_names(item.then) | explicit_names(item.orelse)
    if isinstance(item, it.From):
        return explicit_names(item.body)
    return set()


def head_names(item: it.Item | None) -> set[str]:
    """Names of the auxiliary heads written in a list (whether or not constructed)."""
    if isinstance(item, it.Named):
        return {item.name} if isinstance(item.item, it.Head) and isinstance(item.name, str) \
            else set()
    if isinstance(item, it.Seq):
        return set().union(*(head_names(e) for e in item.items)) if item.items else set()
    if isinstance(item, it.Cond):
        return head_names(item.then) | head_names(item.orelse)
    return set()


def origin(item: it.Item) -> str:
    """Where a list member's scope comes from, `file:line:col`."""
    span = item.span
    return f"{span.file}:{span.line}:{span.col}"
