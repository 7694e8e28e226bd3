"""nnx.custom_vjp: Flax NNX's contract for objects in, states in ``bwd``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import pytest

from nnx_graph import Module, PathContains, State, Variable
from nnx_transforms import DiffState, custom_vjp, grad, jit
from nnx_variables import BatchStat, Param


class Foo(Module):
    def __init__(self) -> None:
        self.x = Param(jnp.array(1.0))
        self.y = Param(jnp.array(2.0))
        self.z = 3


def make_f() -> Any:
    @custom_vjp
    def f(m: Foo) -> Any:
        return jnp.sin(m.x.value) * m.y.value

    def f_fwd(m: Foo) -> Any:
        return f(m), (jnp.cos(m.x.value), jnp.sin(m.x.value), m)

    seen: list[Any] = []

    def f_bwd(res: Any, g: Any) -> Any:
        seen.append((res, g))
        inputs_g, out_g = g
        cos_x, sin_x, m = res
        (m_g,) = inputs_g
        m_g = jax.tree.map(lambda v: v, m_g)
        m_g["x"].value = cos_x * out_g * m.y.value
        m_g["y"].value = sin_x * out_g
        return (m_g,)

    f.defvjp(f_fwd, f_bwd)
    f.seen = seen  # type: ignore[attr-defined]
    return f


def test_grad_goes_through_bwd_and_bwd_gets_states_and_objects() -> None:
    f = make_f()
    grads = grad(f)(Foo())
    assert isinstance(grads, State)
    assert float(grads["x"].value) == pytest.approx(float(jnp.cos(1.0) * 2.0))
    assert float(grads["y"].value) == pytest.approx(float(jnp.sin(1.0)))
    res, (inputs_g, out_g) = f.seen[0]
    assert isinstance(res[2], Foo) and res[2].z == 3
    (m_g,) = inputs_g
    assert isinstance(m_g, State) and set(m_g) == {"x", "y"}
    assert isinstance(m_g["x"], Param)
    assert float(out_g) == 1.0


def test_plain_call_runs_the_function_and_under_jit() -> None:
    f = make_f()
    m = Foo()
    assert float(f(m)) == pytest.approx(float(jnp.sin(1.0) * 2.0))
    assert float(jit(lambda m: f(m))(m)) == pytest.approx(float(jnp.sin(1.0) * 2.0))
    g = jit(grad(f))(m)
    assert float(g["y"].value) == pytest.approx(float(jnp.sin(1.0)))


def test_updates_made_inside_reach_the_caller() -> None:
    class Counted(Module):
        def __init__(self) -> None:
            self.w = Param(jnp.array(2.0))
            self.count = BatchStat(jnp.array(0.0))

    @custom_vjp(nondiff_argnums=(DiffState(0, Param),))
    def f(m: Counted, x: jax.Array) -> Any:
        m.count.value = m.count.value + 1
        return m.w.value * x

    def f_fwd(m: Counted, x: jax.Array) -> Any:
        return f(m, x), (m.w.value, x)

    def f_bwd(res: Any, g: Any) -> Any:
        (m_g, x_none), out_g = g
        assert x_none is None
        assert set(m_g) == {"w"}
        w, x = res
        return ({"w": out_g * x}, out_g * w)

    f.defvjp(f_fwd, f_bwd)
    m = Counted()
    gm, gx = grad(f, argnums=(0, 1))(m, jnp.array(5.0))
    assert float(gm["w"].value) == 5.0 and float(gx) == 2.0
    assert float(m.count.value) == 1.0
    f(m, jnp.array(1.0))
    assert float(m.count.value) == 2.0


def test_diffstate_selects_the_differentiated_part() -> None:
    x_only = PathContains("x")

    @custom_vjp(nondiff_argnums=(DiffState(0, x_only),))
    def f(m: Foo) -> Any:
        return jnp.sin(m.x.value) * m.y.value

    def f_fwd(m: Foo) -> Any:
        return f(m), (jnp.cos(m.x.value), m)

    def f_bwd(res: Any, g: Any) -> Any:
        (m_g,), out_g = g
        cos_x, m = res
        assert set(m_g) == {"x"}
        m_g = jax.tree.map(lambda v: v, m_g)
        m_g["x"].value = cos_x * out_g * m.y.value
        return (m_g,)

    f.defvjp(f_fwd, f_bwd)
    g = grad(f, argnums=DiffState(0, x_only))(Foo())
    assert set(g) == {"x"}
    assert float(g["x"].value) == pytest.approx(float(jnp.cos(1.0) * 2.0))


def test_integer_nondiff_argnums_come_first_in_bwd() -> None:
    @custom_vjp(nondiff_argnums=(0,))
    def f(scale: float, m: Foo) -> Any:
        return m.x.value * scale

    def f_fwd(scale: float, m: Foo) -> Any:
        return f(scale, m), None

    def f_bwd(scale: float, res: Any, g: Any) -> Any:
        (m_g,), out_g = g
        m_g = jax.tree.map(lambda v: v, m_g)
        m_g["x"].value = out_g * scale * 100
        m_g["y"].value = jnp.zeros(())
        return (m_g,)

    f.defvjp(f_fwd, f_bwd)
    g = grad(f, argnums=1)(3.0, Foo())
    assert float(g["x"].value) == 300.0


def test_bare_variable_argument() -> None:
    @custom_vjp
    def f(v: Variable[Any]) -> Any:
        return v.value * 2

    def f_fwd(v: Variable[Any]) -> Any:
        return f(v), None

    def f_bwd(res: Any, g: Any) -> Any:
        (v_g,), out_g = g
        return (v_g.replace(out_g * 7),)

    f.defvjp(f_fwd, f_bwd)
    g = grad(f)(Param(jnp.array(1.0)))
    assert float(g.value) == 7.0


def test_integer_nondiff_argnum_on_an_object_is_refused_naming_the_fix() -> None:
    f = custom_vjp(lambda m: m.x.value, nondiff_argnums=(0,))
    f.defvjp(lambda m: (m.x.value, None), lambda res, g: ())
    with pytest.raises(ValueError, match=r"args\[0\](.|\n)*nnx.DiffState"):
        f(Foo())


def test_calling_before_defvjp_says_how() -> None:
    f = custom_vjp(lambda m: m.x.value)
    with pytest.raises(TypeError, match=r"defvjp\(f_fwd, f_bwd\)"):
        f(Foo())


def test_a_misfit_tangent_names_the_path() -> None:
    @custom_vjp
    def f(m: Foo) -> Any:
        return m.x.value

    f.defvjp(lambda m: (f(m), None), lambda res, g: ({"x": g[1]},))
    with pytest.raises(ValueError, match=r"args\[0\] at \('y',\): missing(.|\n)*tree.map"):
        grad(f)(Foo())


def test_a_raising_bwd_leaves_the_object_unchanged() -> None:
    class Counted(Module):
        def __init__(self) -> None:
            self.w = Param(jnp.array(2.0))
            self.count = BatchStat(jnp.array(0.0))

    @custom_vjp
    def f(m: Counted) -> Any:
        m.count.value = m.count.value + 1
        return m.w.value

    def f_bwd(res: Any, g: Any) -> Any:
        raise RuntimeError("bwd fails")

    f.defvjp(lambda m: (f(m), None), f_bwd)
    m = Counted()
    with pytest.raises(RuntimeError, match="bwd fails"):
        grad(f)(m)
    assert float(m.count.value) == 0.0


class Bar(Module):
    def __init__(self) -> None:
        self.x = Param(jnp.array(1.0))
        self.y = Param(jnp.array(2.0))
        self.z = BatchStat(jnp.array(3.0))


def test_without_graph_updates_bwd_gets_out_g_and_returns_objects() -> None:
    from nnx_graph import clone

    seen: list[Any] = []

    @custom_vjp(graph_updates=False)
    def f(m: Bar, c: jax.Array) -> Any:
        m.z.value = m.z.value * 2.0
        return jnp.sin(m.x.value) * m.y.value * c

    def f_fwd(m: Bar, c: jax.Array) -> Any:
        return f(m, c), (jnp.cos(m.x.value), jnp.sin(m.x.value), m, c)

    def f_bwd(res: Any, g: Any, *, updates_g: Any) -> Any:
        seen.append(updates_g)
        cos_x, sin_x, m, c = res
        m_g = clone(m)
        m_g.x.value = cos_x * g * m.y.value * c
        m_g.y.value = sin_x * g * c
        m_g.z.value = jnp.zeros(())
        return (m_g, g * 0 + 7.0)

    f.defvjp(f_fwd, f_bwd)
    m = Bar()
    gm, gc = grad(f, argnums=(0, 1))(m, jnp.array(2.0))
    assert float(gm["x"].value) == pytest.approx(float(jnp.cos(1.0) * 4.0))
    assert float(gc) == 7.0
    assert float(m.z.value) == 6.0
    (m_updates, c_updates) = seen[0]
    assert c_updates is None and isinstance(m_updates, Bar)
    assert m_updates.x is None and m_updates.y is None and isinstance(m_updates.z, BatchStat)


def test_without_graph_updates_diffstate_is_refused() -> None:
    with pytest.raises(ValueError, match="graph_updates=True"):
        custom_vjp(lambda m: m, nondiff_argnums=(DiffState(0, Param),), graph_updates=False)
