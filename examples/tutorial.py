"""The tutorial's ideas on a real training run: `make demo`.

Builds an MLP with BatchNorm and Dropout (Linear -> BatchNorm -> Dropout -> gelu -> Linear,
the kind of model docs/tutorial.md writes by hand), trains it with `nnx.jit` +
`nnx.value_and_grad` + `nnx.Optimizer` on a synthetic regression task made here (a noisy
sine of a random projection), and prints the loss as it falls, the final metrics on
held-out data in eval mode, and the trained model. Then it stacks five MLPs with
`nnx.vmap` and runs them in sequence with `nnx.scan`, as the tutorial does. It needs
nothing outside the repository."""

from __future__ import annotations

import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import optax

import nnx


class MLP(nnx.Module):
    def __init__(self, din: int, dmid: int, dout: int, *, rngs: nnx.Rngs) -> None:
        self.linear1 = nnx.Linear(din, dmid, rngs=rngs)
        self.dropout = nnx.Dropout(rate=0.1, rngs=rngs)
        self.bn = nnx.BatchNorm(dmid, rngs=rngs)
        self.linear2 = nnx.Linear(dmid, dout, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = nnx.gelu(self.dropout(self.bn(self.linear1(x))))
        return self.linear2(x)


TASK_KEY = jax.random.key(42)  # the hidden projection shared by train and test data


def make_data(key: jax.Array, n: int, din: int, dout: int) -> tuple[jax.Array, jax.Array]:
    """A smooth nonlinear target of a hidden projection, with a little noise."""
    k_x, k_noise = jax.random.split(key)
    w = jax.random.normal(TASK_KEY, (din, dout)) / jnp.sqrt(din)
    x = jax.random.normal(k_x, (n, din))
    y = jnp.sin(2.0 * x @ w) + 0.05 * jax.random.normal(k_noise, (n, dout))
    return x, y


@nnx.jit
def train_step(model: MLP, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array) -> jax.Array:
    def loss_fn(model: MLP) -> jax.Array:
        return jnp.mean((model(x) - y) ** 2)

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(grads)
    return loss


@nnx.jit
def evaluate(model: MLP, x: jax.Array, y: jax.Array) -> dict[str, jax.Array]:
    pred = model(x)
    mse = jnp.mean((pred - y) ** 2)
    r2 = 1.0 - mse / jnp.var(y)
    return {"mse": mse, "r2": r2}


def progress(step: int, total: int, loss: float, width: int = 30) -> None:
    """A progress bar: redrawn in place on a terminal, one line per update in a log."""
    done = int(width * step / total)
    bar = "#" * done + "." * (width - done)
    line = f"  [{bar}] step {step:4d}/{total}  loss {loss:.4f}"
    if sys.stdout.isatty():
        sys.stdout.write("\r" + line + ("\n" if step == total else ""))
        sys.stdout.flush()
    else:
        print(line)


def main() -> None:
    din, dmid, dout, batch, steps = 8, 64, 4, 64, 800
    x_train, y_train = make_data(jax.random.key(1), 4096, din, dout)
    x_test, y_test = make_data(jax.random.key(2), 1024, din, dout)

    model = MLP(din, dmid, dout, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(1e-2))
    print(f"Training the tutorial MLP ({din} -> {dmid} -> {dout}) on {len(x_train)} samples")
    start = time.perf_counter()
    losses = []
    for step in range(1, steps + 1):
        i = (step * batch) % (len(x_train) - batch)
        loss = train_step(model, optimizer, x_train[i : i + batch], y_train[i : i + batch])
        losses.append(loss)
        if step % (20 if sys.stdout.isatty() else 100) == 0 or step == steps:
            progress(step, steps, float(loss))
    elapsed = time.perf_counter() - start
    print(
        f"  {steps} steps in {elapsed:.2f}s; loss {float(losses[0]):.4f} -> {float(losses[-1]):.4f}"
    )

    model.eval()  # BatchNorm uses its running averages, Dropout is off
    metrics = evaluate(model, x_test, y_test)
    print(f"Held-out metrics: mse {float(metrics['mse']):.4f}, r2 {float(metrics['r2']):.3f}")
    print(f"optimizer.step = {int(optimizer.step.value)}")
    nnx.display(model)

    with tempfile.TemporaryDirectory() as directory:  # model, optimizer state, step, RNGs
        nnx.checkpoint.save(f"{directory}/tutorial", optimizer)
        restored = nnx.checkpoint.restore(
            f"{directory}/tutorial",
            nnx.eval_shape(
                lambda: nnx.Optimizer(MLP(din, dmid, dout, rngs=nnx.Rngs(1)), optax.adam(1e-2))
            ),
        )
    restored.model.eval()
    again = evaluate(restored.model, x_test, y_test)
    print(
        f"Saved and restored with nnx.checkpoint into an abstract model: step "
        f"{int(restored.step.value)}, mse {float(again['mse']):.4f} (same as above: "
        f"{bool(again['mse'] == metrics['mse'])})"
    )

    print("\nStacking 5 MLPs with nnx.vmap and running them in sequence with nnx.scan:")

    @nnx.vmap(in_axes=0, out_axes=0)
    def create_model(key: jax.Array) -> MLP:
        return MLP(10, 32, 10, rngs=nnx.Rngs(key))

    stack = create_model(jax.random.split(jax.random.key(0), 5))

    @nnx.scan(in_axes=(0, nnx.Carry), out_axes=nnx.Carry)
    def forward(model: MLP, x: jax.Array) -> jax.Array:
        return model(x)

    y = forward(stack, jnp.ones((3, 10)))
    print(f"  y.shape = {y.shape}; stacked kernel shape {stack.linear1.kernel.value.shape}")


if __name__ == "__main__":
    main()
