"""Treescope handlers for nnx's types, registered in one setup function.

Treescope looks a node's type (and its bases) up in
``treescope.type_registries.TREESCOPE_HANDLER_REGISTRY``; ``set_up_treescope`` fills it
for ``Object``, ``Variable`` (a State's leaves too), ``State`` and ``GraphDef``, so every
subclass (Modules, ``Param``, ``Rngs``, a user's ``Count``) renders natively: type
names, attribute names, Variable kinds coloured by kind, and arrays with treescope's own
shape, dtype and value summaries. Sharing and cycles need nothing here: treescope's
renderer marks values it meets twice and cuts cycles itself.

This is the only module of the workspace that imports treescope at module level; it is
imported when a rendering first needs it (see ``nnx_display._lazy``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from treescope import formatting_util, renderers, rendering_parts, repr_lib, type_registries

from nnx_graph import (
    ByValue,
    GraphDef,
    Object,
    State,
    Variable,
    format_path,
    size_summary,
)

Rendering = Any  # rendering_parts.Rendering; treescope ships no type information
Label = Callable[[Any, "str | None"], tuple[Any, "str | None"]]


def set_up_treescope() -> None:
    """Register the handlers for nnx's base types in treescope's global registry.

    Idempotent; called by ``display`` and by treescope's own lazy setup.

    >>> import treescope
    >>> set_up_treescope()
    >>> treescope.type_registries.TREESCOPE_HANDLER_REGISTRY[Object] is handle_object
    True
    """
    registry = type_registries.TREESCOPE_HANDLER_REGISTRY
    registry[Object] = handle_object
    registry[Variable] = handle_variable
    registry[State] = handle_state
    registry[GraphDef] = handle_graphdef


def handle_object(
    node: Any, path: str | None, subtree_renderer: renderers.TreescopeSubtreeRenderer
) -> Rendering:
    """Render an Object as ``Type( # counts`` and one ``name=value`` line per attribute."""
    return _constructor(
        rendering_parts.siblings(rendering_parts.maybe_qualified_type_name(type(node)), "("),
        ")",
        list(vars(node).items()),
        _attribute,
        path,
        subtree_renderer,
        summary=size_summary(node),
    )


def handle_variable(
    node: Any, path: str | None, subtree_renderer: renderers.TreescopeSubtreeRenderer
) -> Rendering:
    """Render a Variable as ``Kind(value=<array>, metadata...)``, coloured by its kind."""
    return repr_lib.render_object_constructor(
        type(node),
        {"value": node.raw_value, **node.get_metadata()},
        path,
        subtree_renderer,
        color=_kind_color(type(node)),
    )


def handle_state(
    node: Any, path: str | None, subtree_renderer: renderers.TreescopeSubtreeRenderer
) -> Rendering:
    """Render a State as its nested mapping, each level with its per-kind counts."""
    mapping = node.raw_mapping
    items = [(k, State.wrap(v) if type(v) is dict else v) for k, v in mapping.items()]
    return _constructor(
        rendering_parts.siblings(rendering_parts.maybe_qualified_type_name(State), "({"),
        "})",
        items,
        _item,
        path,
        subtree_renderer,
        summary=size_summary(node),
    )


def handle_graphdef(
    node: Any, path: str | None, subtree_renderer: renderers.TreescopeSubtreeRenderer
) -> Rendering:
    """Render a GraphDef as the tree of node types and static attributes it records."""
    paths: dict[int, tuple[Any, ...]] = {}
    if len(node.edges) == 1:
        children = [_edge(node.edges[0], (), paths, subtree_renderer)]
    else:
        children = [_edge(e, (i,), paths, subtree_renderer) for i, e in enumerate(node.edges)]
    return rendering_parts.build_foldable_tree_node_from_children(
        prefix=rendering_parts.siblings(rendering_parts.maybe_qualified_type_name(GraphDef), "("),
        children=[_line(child, last=i == len(children) - 1) for i, child in enumerate(children)],
        suffix=")",
        path=path,
    )


# -- building blocks ---------------------------------------------------------------------


class _Part:
    """A child already rendered (a kind's name), passed where a value would be."""

    def __init__(self, part: Any) -> None:
        self.part = part


def _attribute(key: Any, path: str | None) -> tuple[Any, str | None]:
    return f"{key}=", None if path is None else f"{path}.{key}"


def _item(key: Any, path: str | None) -> tuple[Any, str | None]:
    return f"{key!r}: ", None if path is None else f"{path}[{key!r}]"


def _line(part: Any, last: bool) -> Any:
    """One child line with the separator treescope uses (a comma; a space when folded)."""
    if last:
        comma = rendering_parts.fold_condition(expanded=rendering_parts.text(","))
    else:
        comma = rendering_parts.siblings(
            ",", rendering_parts.fold_condition(collapsed=rendering_parts.text(" "))
        )
    return rendering_parts.build_full_line_with_annotations(part, comma)


def _constructor(
    prefix: Any,
    close: str,
    items: list[tuple[Any, Any]],
    label: Label,
    path: str | None,
    subtree_renderer: renderers.TreescopeSubtreeRenderer,
    summary: str,
    color: str | None = None,
) -> Rendering:
    children = []
    for i, (key, value) in enumerate(items):
        text, child_path = label(key, path)
        if isinstance(value, _Part):
            rendered = value.part
        else:
            rendered = subtree_renderer(value, path=child_path)
        part = rendering_parts.siblings_with_annotations(text, rendered)
        children.append(_line(part, last=i == len(items) - 1))
    annotation = (
        rendering_parts.comment_color(rendering_parts.text(f" # {summary}")) if summary else None
    )
    return rendering_parts.build_foldable_tree_node_from_children(
        prefix=prefix,
        children=children,
        suffix=close,
        path=path,
        background_color=color,
        first_line_annotation=annotation,
    )


def _kind_color(kind: type) -> str:
    return str(formatting_util.color_from_string(kind.__name__))


def _edge(
    edge: tuple[Any, ...],
    path: tuple[Any, ...],
    paths: dict[int, tuple[Any, ...]],
    subtree_renderer: renderers.TreescopeSubtreeRenderer,
) -> Any:
    tag = edge[0]
    if tag == "static":
        value = edge[1]
        return subtree_renderer(value.value if isinstance(value, ByValue) else value)
    if tag == "array":
        return rendering_parts.text("Array")
    if tag == "ref":
        return rendering_parts.comment_color(
            rendering_parts.text(f"<shared: {format_path(paths[edge[1]])}>")
        )
    if tag == "method":
        name = getattr(edge[2].value, "__name__", "?")
        return rendering_parts.comment_color(
            rendering_parts.text(f"<method {name} of {format_path(paths[edge[1]])}>")
        )
    if tag == "var":
        paths[edge[1]] = path
        metadata = ", ".join(f"{k}={v!r}" for k, v in edge[3])
        name = edge[2].__name__ + (f"({metadata})" if metadata else "")
        return rendering_parts.text(name)
    if tag in ("object", "dict", "list"):
        paths[edge[1]] = path
    if tag == "object":
        prefix: Any = rendering_parts.siblings(
            rendering_parts.maybe_qualified_type_name(edge[2]), "("
        )
        close, items, sep = ")", edge[3], "="
    elif tag == "dict":
        prefix, close, items, sep = "{", "}", edge[2], ": "
    elif tag == "pytree":
        prefix, close, items, sep = "pytree(", ")", edge[2], "="
    else:  # list or tuple
        prefix, close = ("[", "]") if tag == "list" else ("(", ")")
        items, sep = list(enumerate(edge[-1])), ""
    children = []
    for i, (key, child) in enumerate(items):
        rendered = _edge(child, (*path, key), paths, subtree_renderer)
        if tag in ("list", "tuple"):
            text = ""
        else:
            text = f"{key!r}{sep}" if tag == "dict" else f"{key}{sep}"
        part = rendering_parts.siblings_with_annotations(text, rendered) if text else rendered
        children.append(_line(part, last=i == len(items) - 1))
    return rendering_parts.build_foldable_tree_node_from_children(
        prefix=prefix, children=children, suffix=close
    )
