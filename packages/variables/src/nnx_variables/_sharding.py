"""Sharding metadata: which mesh axes each dimension of a Variable is split over.

The distributed engine is JAX's own (``jax.sharding`` meshes, XLA's SPMD partitioner);
this module only records, next to each parameter, how it should be laid out, and turns
those records into the ``PartitionSpec``/``NamedSharding`` trees JAX consumes.

The record is ordinary Variable metadata (``out_sharding``, as Flax NNX 0.12 names it; a
tuple with one mesh axis name, tuple of names, or ``None`` per dimension; 0.10's
``sharding`` key is renamed on the way in), so it survives ``split``/``merge`` and every
transform with no special handling. It gets there through the initializer: a layer
builds ``Param(kernel_init(key, shape, dtype))``, ``with_partitioning`` makes the
initializer return a ``VariableMetadata`` box, and ``Variable.__init__`` unboxes it (and
places the value when a mesh is known: eager sharding, see ``nnx_graph``). No layer
needs a sharding argument of its own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeAlias, TypeVar

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from nnx_graph import (
    Object,
    Variable,
    VariableState,
    apply_axis_rules,
    describe,
    format_path,
    get_logical_axis_rules,
    message,
    spec_axis_names,
)

A = TypeVar("A")

AxisName: TypeAlias = str | tuple[str, ...] | None
Sharding: TypeAlias = tuple[AxisName, ...]


class VariableMetadata(Generic[A]):
    """An initial value plus metadata for the Variable that will hold it.

    Initializers wrapped by ``with_metadata`` or ``with_partitioning`` return this box;
    any Variable constructor unboxes it, so ``Param(init(key, shape))`` carries the
    metadata without the layer knowing about it. Keyword metadata given to the
    constructor itself wins over the box's.

    >>> import jax.numpy as jnp
    >>> from nnx_variables import Param
    >>> Param(VariableMetadata(jnp.zeros(2), {'note': 'hi'})).note
    'hi'
    """

    __slots__ = ("metadata", "raw_value")

    def __init__(self, raw_value: A, metadata: dict[str, Any]) -> None:
        self.raw_value = raw_value
        self.metadata = dict(metadata)

    def __nnx_unbox__(self) -> tuple[A, dict[str, Any]]:
        return self.raw_value, dict(self.metadata)

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in self.metadata.items())
        return f"VariableMetadata({describe(self.raw_value)}, {items})"


def with_metadata(initializer: Callable[..., Any], **metadata: Any) -> Callable[..., Any]:
    """Wrap ``initializer`` so the Variable built from its output carries ``metadata``.

    >>> import jax, jax.numpy as jnp
    >>> from nnx_variables import Param
    >>> init = with_metadata(lambda key, shape: jnp.zeros(shape), description='a bias')
    >>> Param(init(jax.random.key(0), (3,))).description
    'a bias'
    """
    _check_initializer(initializer, "nnx.with_metadata")

    @functools.wraps(initializer)
    def init(*args: Any, **kwargs: Any) -> VariableMetadata[Any]:
        return VariableMetadata(initializer(*args, **kwargs), metadata)

    return init


def with_partitioning(
    initializer: Callable[..., Any],
    sharding: Sequence[AxisName] | PartitionSpec,
    mesh: Mesh | None = None,
    **metadata: Any,
) -> Callable[..., Any]:
    """Wrap ``initializer`` so its Variable records how it is sharded over a mesh.

    ``sharding`` names, per dimension, the mesh axis (or tuple of axes) that dimension is
    split over, ``None`` for a replicated dimension; trailing dimensions may be left out.
    The names may be logical ones (``'embed'``, ``'mlp'``) that ``nnx.logical_axis_rules``
    or a ``sharding_rules=`` keyword map to mesh axes when the sharding is needed.
    The names are recorded as ``out_sharding`` metadata. With ``mesh`` (or a mesh set by
    ``jax.set_mesh``) the Variable built from the value also places it right away
    (``device_put`` eagerly, a sharding constraint inside ``jit``; eager sharding, which
    ``nnx.use_eager_sharding(False)`` turns off), so a model built under ``nnx.jit``
    comes out already sharded. Without any mesh only the metadata is recorded and
    ``get_named_sharding`` places the state later.

    >>> import jax
    >>> from nnx_variables import Param
    >>> init = with_partitioning(jax.nn.initializers.lecun_normal(), (None, 'model'))
    >>> Param(init(jax.random.key(0), (2, 4))).out_sharding
    (None, 'model')
    """
    _check_initializer(initializer, "nnx.with_partitioning")
    # Logical names (mapped by rules when the Variable is built) are not mesh axes yet.
    logical = "sharding_rules" in metadata or bool(get_logical_axis_rules())
    spec = _check_sharding(sharding, mesh, check_axes=not logical)
    extra = {"out_sharding": spec, **({"mesh": mesh} if mesh is not None else {}), **metadata}

    # The spec's length is checked where the value is placed (eager sharding,
    # get_named_sharding), not here: a layer may draw a flat value and reshape it first
    # (LinearGeneral does, as in flax).
    @functools.wraps(initializer)
    def init(*args: Any, **kwargs: Any) -> VariableMetadata[Any]:
        return VariableMetadata(initializer(*args, **kwargs), extra)

    return init


def get_partition_spec(tree: Any) -> Any:
    """Map each VariableState to one holding its ``PartitionSpec`` instead of its value.

    Variables without ``out_sharding`` metadata (and bare arrays) get ``PartitionSpec()``:
    replicated on every device. The result keeps the structure of ``tree``, so it can be
    handed to ``jax.lax.with_sharding_constraint`` under a mesh, or turned into
    shardings for ``jax.device_put``.

    >>> import jax.numpy as jnp
    >>> from nnx_graph import State
    >>> from nnx_variables import Param
    >>> state = State({'w': Param(jnp.ones((2, 4)), out_sharding=(None, 'model')),
    ...                'b': Param(jnp.zeros(4))})
    >>> specs = get_partition_spec(state)
    >>> specs.w.value, specs.b.value
    (P(None, 'model'), P())
    """
    _check_not_object(tree, "nnx.get_partition_spec", "nnx.get_partition_spec(nnx.state(model))")
    return jax.tree.map(_spec_leaf, tree, is_leaf=_is_variable)


def get_named_sharding(tree: Any, mesh: Mesh) -> Any:
    """Like ``get_partition_spec``, with each spec bound to ``mesh`` as a NamedSharding.

    Every spec is checked against the mesh and the value's shape before anything is
    returned: unknown axis names, more entries than dimensions and dimensions the mesh
    axes do not divide evenly are all reported, each with its path.

    >>> import jax, jax.numpy as jnp
    >>> from nnx_graph import State
    >>> from nnx_variables import Param
    >>> mesh = jax.make_mesh((1,), ('model',))
    >>> state = State({'w': Param(jnp.ones((2, 4)), out_sharding=(None, 'model'))})
    >>> sharded = jax.device_put(state, get_named_sharding(state, mesh))
    >>> sharded.w.value.sharding.spec
    P(None, 'model')
    """
    _check_not_object(
        tree, "nnx.get_named_sharding", "nnx.get_named_sharding(nnx.state(model), mesh)"
    )
    if not isinstance(mesh, Mesh):
        raise TypeError(
            message(
                f"nnx.get_named_sharding: mesh must be a jax.sharding.Mesh, got {describe(mesh)}.",
                fix="mesh = jax.make_mesh((2, 4), ('data', 'model'))",
            )
        )
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree, is_leaf=_is_variable)
    problems = []
    for key_path, leaf in leaves:
        spec = _spec_leaf(leaf)
        if isinstance(spec, Variable):
            spec = spec.raw_value
        elif isinstance(spec, VariableState):
            spec = spec.value
        problems += _fit_problems(_path(key_path), leaf, spec, mesh)
    if problems:
        raise ValueError(
            message(
                "nnx.get_named_sharding: some sharding metadata does not fit the mesh "
                f"(axes {dict(mesh.shape)}).",
                problems,
                expected="mesh axis names from the mesh, at most one entry per dimension, "
                "and dimensions divisible by the size of the mesh axes they are split over",
                fix="fix the with_partitioning(...) of the Variables listed, build a "
                "mesh whose axes fit them, or map logical names to mesh axes with "
                "nnx.logical_axis_rules([('embed', None), ('mlp', 'model')])",
            )
        )
    specs = get_partition_spec(tree)
    return jax.tree.map(lambda spec: NamedSharding(mesh, spec), specs)


# -- helpers -----------------------------------------------------------------------------


def _is_variable(x: Any) -> bool:
    return isinstance(x, Variable | VariableState)


def _spec_leaf(leaf: Any) -> Any:
    if isinstance(leaf, Variable | VariableState):
        metadata = leaf.get_metadata()
        names = metadata.get("out_sharding")
        if isinstance(names, NamedSharding):
            names = tuple(names.spec)
        where = f"nnx.get_partition_spec: {type(leaf).__name__}"
        names = apply_axis_rules(names, metadata.get("sharding_rules"), where)
        return leaf.replace(_partition_spec(names or ()))
    return _partition_spec(())


def _fit_problems(path: Any, leaf: Any, spec: PartitionSpec, mesh: Mesh) -> list[str]:
    value = leaf.value if isinstance(leaf, Variable | VariableState) else leaf
    where = f"{format_path(path, 'state')}: {describe(value)} with sharding {tuple(spec)!r}"
    sizes = dict(mesh.shape)
    unknown = [name for name in spec_axis_names(tuple(spec)) if name not in sizes]
    if unknown:
        return [f"{where}: mesh has no axis {', '.join(map(repr, unknown))}"]
    shape = getattr(value, "shape", None)
    if not isinstance(shape, tuple):
        return []
    if len(spec) > len(shape):
        return [f"{where}: {len(spec)} entries for {len(shape)} dimensions"]
    problems = []
    for dim, entry in enumerate(spec):
        names = spec_axis_names((entry,))
        parts = 1
        for name in names:
            parts *= sizes[name]
        if shape[dim] % parts:
            problems.append(
                f"{where}: dimension {dim} (size {shape[dim]}) is not divisible by "
                f"{parts} (mesh axes {', '.join(map(repr, names))})"
            )
    return problems


def _path(key_path: Any) -> tuple[Any, ...]:
    keys = []
    for key in key_path:
        if isinstance(key, jax.tree_util.DictKey):
            keys.append(key.key)
        elif isinstance(key, jax.tree_util.SequenceKey):
            keys.append(key.idx)
        elif isinstance(key, jax.tree_util.GetAttrKey) and key.name != "value":
            keys.append(key.name)
    return tuple(keys)


def _partition_spec(entries: Sharding) -> PartitionSpec:
    return PartitionSpec(*entries)  # type: ignore[no-untyped-call]  # jax: unannotated __init__


def _check_initializer(initializer: Any, op: str) -> None:
    if not callable(initializer):
        raise TypeError(
            message(
                f"{op}: initializer must be callable, got {describe(initializer)}.",
                expected="an initializer such as nnx.initializers.lecun_normal()",
                fix=f"{op.removeprefix('nnx.')}(nnx.initializers.lecun_normal(), ...)",
            )
        )


def _check_sharding(sharding: Any, mesh: Any, check_axes: bool = True) -> Sharding:
    if isinstance(sharding, str) or not isinstance(sharding, Sequence | PartitionSpec):
        fix = (
            f"with_partitioning(init, ({sharding!r},))"
            if isinstance(sharding, str)
            else "with_partitioning(init, (None, 'model'))"
        )
        raise TypeError(
            message(
                f"nnx.with_partitioning: sharding must be a tuple with one entry per "
                f"dimension, got {describe(sharding)}.",
                expected="a tuple of mesh axis names, tuples of names, or None",
                fix=fix,
            )
        )
    spec = tuple(tuple(e) if isinstance(e, list) else e for e in sharding)
    bad = [
        repr(e)
        for e in spec
        if not (
            e is None
            or isinstance(e, str)
            or (isinstance(e, tuple) and all(isinstance(n, str) for n in e))
        )
    ]
    if bad:
        raise TypeError(
            message(
                f"nnx.with_partitioning: sharding {spec!r} has entries that are not "
                "mesh axis names.",
                [f"{entry} is not a str, a tuple of str, or None" for entry in bad],
                fix="with_partitioning(init, (None, 'model'))",
            )
        )
    names = spec_axis_names(spec)
    repeated = sorted({n for n in names if names.count(n) > 1})
    problems = [f"mesh axis {n!r} is used more than once" for n in repeated]
    if mesh is not None:
        if not isinstance(mesh, Mesh):
            raise TypeError(
                message(
                    f"nnx.with_partitioning: mesh must be a jax.sharding.Mesh or None, "
                    f"got {describe(mesh)}.",
                    fix="with_partitioning(init, sharding, mesh=jax.make_mesh(...))",
                )
            )
        problems += [
            f"mesh has no axis {n!r} (its axes: {', '.join(map(repr, mesh.axis_names))})"
            for n in dict.fromkeys(names)
            if check_axes and n not in mesh.axis_names
        ]
    if problems:
        raise ValueError(
            message(
                f"nnx.with_partitioning: sharding {spec!r} does not fit.",
                problems,
                expected="each mesh axis used at most once, and only axes the mesh has",
                fix="with_partitioning(init, (None, 'model'), mesh=mesh)",
            )
        )
    return spec


def _check_not_object(tree: Any, op: str, fix: str) -> None:
    if isinstance(tree, Object):
        raise TypeError(
            message(
                f"{op} takes a State, got the {type(tree).__name__} object itself.",
                expected="a State, e.g. from nnx.state(model)",
                fix=fix,
            )
        )


def _name(initializer: Callable[..., Any]) -> str:
    return getattr(initializer, "__name__", type(initializer).__name__)
