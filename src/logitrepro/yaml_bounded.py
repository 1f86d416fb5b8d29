"""YAML read with a bound on what its aliases expand to.

An alias is one object shared where it is used, so a parsed document can be small while what
it stands for is astronomically large: ten anchors each repeating the one before ten times (a
"billion laughs") parse in microseconds, then exhaust memory the first time something walks
them out in full (JSON for the jobs, a digest, a deep merge), and merge keys (`<<: [*a, *a]`)
already multiply during construction. So the composed node graph is measured, aliases counted
as often as they are used, before anything is constructed; what a config may hold is far above
what any real one needs (the largest paper config expands to about 3,300 values).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import yaml

# libyaml's parser where PyYAML was built with it: the same documents, parsed ~8x faster (every
# `snakemake` invocation reads the configs and schemas)
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_VALUES = 200_000  # values (mappings, lists, keys and scalars) a document may expand to


class ExpansionTooLarge(ValueError):
    """A document (or a template) that stands for more values than MAX_VALUES, or for itself."""


def expanded_size(root, children: Callable[[object], Iterable], limit: int = MAX_VALUES) -> int:
    """The number of values in `root` with every shared part counted each time it is used.
    Each distinct part is visited once, so this costs what the document costs, not what it
    expands to. Raises ExpansionTooLarge past `limit`, or when a part contains itself."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()  # the parts being measured: meeting one again inside itself is a cycle
    stack = [(root, False)]
    while stack:
        node, measured_children = stack.pop()
        key = id(node)
        if measured_children:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes.get(id(c), 1) for c in children(node))
            if sizes[key] > limit:
                raise ExpansionTooLarge(f"expands to more than {limit:,} values")
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise ExpansionTooLarge("contains itself (an alias to an anchor around it)")
        kids = list(children(node))
        if not kids:
            sizes[key] = 1
            continue
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in kids)
    return sizes[id(root)]


def explain(error: ExpansionTooLarge, where: str) -> str:
    """The one-line message for a document refused by expanded_size."""
    return (
        f"{where}: {error} through its YAML anchors and aliases (a config needs a few thousand values); "
        "write the values out, or do not nest aliases inside aliases"
    )


def node_children(node: yaml.Node) -> list[yaml.Node]:
    """A composed node's children: a mapping's keys and values (a merge key's too), a sequence's items."""
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def value_children(value) -> list:
    """A loaded value's children: a mapping's keys and values, a list's items."""
    if isinstance(value, dict):
        return [*value.keys(), *value.values()]
    if isinstance(value, (list, tuple)):
        return list(value)
    return []


def load_yaml(stream, where: str, limit: int = MAX_VALUES):
    """The one document in `stream` (text or a file), constructed only if it expands to at most
    `limit` values; otherwise ExpansionTooLarge, naming `where`."""
    loader = YAML_LOADER(stream)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        try:
            expanded_size(node, node_children, limit)
        except ExpansionTooLarge as e:
            raise ExpansionTooLarge(explain(e, where)) from None
        return loader.construct_document(node)
    finally:
        loader.dispose()
