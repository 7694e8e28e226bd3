"""A character-level transformer trained on the docstrings of Python's standard library.

Shows a decoder-only language model written with nnx, and sampling from it with the
attention cache:

- ``nnx.Embed`` for tokens and positions, pre-LayerNorm blocks of causal
  ``nnx.MultiHeadAttention`` and a GELU MLP, ``nnx.Dropout`` on the residual branches;
- training with ``nnx.Optimizer`` and one ``nnx.jit`` step per batch, with a
  ``tqdm`` progress bar; the loss curve is printed and saved as a PNG;
- autoregressive sampling with the key/value cache: ``nnx.view(model, decode=True,
  batch_size=1, max_length=...)`` gives a copy of the model sharing its parameters, whose
  attention layers hold fresh caches (``MultiHeadAttention.init_cache``); each jitted
  step then feeds one character. The same sample is recomputed without the cache (the
  whole prefix through the model for every new character) and the two are compared.

The corpus is read from the interpreter itself (no download): the docstrings of a
fixed list of standard-library modules and of their public classes and functions, in
sorted order, so a given Python version always sees the same text.

Run it (about 13 minutes on two CPU cores)::

    python examples/char_lm.py --out build/examples/char_lm

or a reduced run, as the tests do::

    python examples/char_lm.py --steps 30 --width 32 --layers 1 --context 32 \\
        --sample-length 24 --out /tmp/char_lm
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import string
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import optax
from tqdm import tqdm

import nnx

matplotlib.use("Agg")  # write files only; never open a window (CI has no display)
import matplotlib.pyplot as plt

MODULES = (
    "argparse", "collections", "contextlib", "dataclasses", "functools", "heapq", "inspect",
    "itertools", "json", "logging", "os", "pathlib", "random", "re", "shutil", "statistics",
    "string", "subprocess", "textwrap", "threading", "typing", "unittest", "urllib.parse",
    "zipfile",
)  # fmt: skip
CHARACTERS = set(string.printable) - set("\t\r\x0b\x0c")  # printable ASCII and "\n"


def docstrings(name: str) -> list[str]:
    """The docstrings of module ``name`` and of what it defines, in sorted order."""
    module = importlib.import_module(name)
    found = [inspect.getdoc(module)]
    for attribute, obj in sorted(vars(module).items()):
        if attribute.startswith("_") or getattr(obj, "__module__", None) != name:
            continue  # private, or imported from elsewhere
        if inspect.isclass(obj):
            found.append(inspect.getdoc(obj))
            for method_name, method in sorted(vars(obj).items()):
                if inspect.isfunction(method) and not method_name.startswith("_"):
                    found.append(inspect.getdoc(method))
        elif inspect.isfunction(obj) or inspect.isbuiltin(obj):
            found.append(inspect.getdoc(obj))
    return [doc for doc in found if doc]


def load_corpus(limit: int | None = None) -> str:
    """About 210,000 characters of English prose and code examples (Python 3.11)."""
    text = "\n\n".join(doc for name in MODULES for doc in docstrings(name))
    text = "".join(c for c in text if c in CHARACTERS)
    return text if limit is None else text[:limit]


class Vocabulary:
    """Characters to ids and back; the ids are the corpus's characters in sorted order."""

    def __init__(self, text: str) -> None:
        self.characters = sorted(set(text))
        self.ids = {c: i for i, c in enumerate(self.characters)}

    def __len__(self) -> int:
        return len(self.characters)

    def encode(self, text: str) -> np.ndarray:
        return np.array([self.ids[c] for c in text], np.int32)

    def decode(self, ids: np.ndarray | list[int]) -> str:
        return "".join(self.characters[int(i)] for i in ids)


class Block(nnx.Module):
    """Pre-LayerNorm: x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, width: int, heads: int, dropout: float, *, rngs: nnx.Rngs) -> None:
        self.norm1 = nnx.LayerNorm(width, rngs=rngs)
        # decode=False for training; nnx.view(..., decode=True) switches a copy to caching.
        self.attention = nnx.MultiHeadAttention(heads, width, decode=False, rngs=rngs)
        self.norm2 = nnx.LayerNorm(width, rngs=rngs)
        self.up = nnx.Linear(width, 4 * width, rngs=rngs)
        self.down = nnx.Linear(4 * width, width, rngs=rngs)
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    def __call__(self, x: jax.Array, mask: jax.Array | None) -> jax.Array:
        x = x + self.dropout(self.attention(self.norm1(x), mask=mask))
        return x + self.dropout(self.down(nnx.gelu(self.up(self.norm2(x)))))


class CharLM(nnx.Module):
    def __init__(
        self,
        vocab_size: int,
        *,
        width: int,
        heads: int,
        layers: int,
        context: int,
        dropout: float,
        rngs: nnx.Rngs,
    ) -> None:
        self.tokens = nnx.Embed(vocab_size, width, rngs=rngs)
        self.positions = nnx.Embed(context, width, rngs=rngs)
        self.blocks = nnx.List([Block(width, heads, dropout, rngs=rngs) for _ in range(layers)])
        self.norm = nnx.LayerNorm(width, rngs=rngs)
        self.head = nnx.Linear(width, vocab_size, rngs=rngs)
        self.context = context

    def __call__(self, ids: jax.Array, positions: jax.Array) -> jax.Array:
        """Next-character logits for ``ids`` (batch, length) at ``positions`` (1, length)."""
        x = self.tokens(ids) + self.positions(positions)
        # Training sees whole windows, so each position may only look back. A decoding
        # step sees one new character, and the cache itself masks the unwritten slots.
        mask = nnx.make_causal_mask(ids) if ids.shape[1] > 1 else None
        for block in self.blocks:
            x = block(x, mask)
        return self.head(self.norm(x))


def loss_fn(model: CharLM, ids: jax.Array) -> jax.Array:
    inputs, targets = ids[:, :-1], ids[:, 1:]
    positions = jnp.arange(inputs.shape[1])[None]
    logits = model(inputs, positions)
    return optax.softmax_cross_entropy_with_integer_labels(logits, targets).mean()


@nnx.jit
def train_step(optimizer: nnx.Optimizer, ids: jax.Array) -> jax.Array:
    loss, grads = nnx.value_and_grad(loss_fn)(optimizer.model, ids)
    optimizer.update(optimizer.model, grads)
    return loss


@nnx.jit
def eval_loss(model: CharLM, ids: jax.Array) -> jax.Array:
    return loss_fn(model, ids)


def windows(data: np.ndarray, batch: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """``batch`` random windows of ``length`` characters (inputs plus the next one)."""
    starts = rng.integers(0, len(data) - length, batch)
    return np.stack([data[s : s + length] for s in starts])


@nnx.jit
def decode_step(decoder: CharLM, token: jax.Array, position: jax.Array) -> jax.Array:
    """Logits after one more character; the caches inside ``decoder`` advance in place."""
    return decoder(token.reshape(1, 1), position.reshape(1, 1))[0, -1]


@nnx.jit
def full_logits(model: CharLM, ids: jax.Array, position: jax.Array) -> jax.Array:
    """Logits at ``position``, recomputing the whole (padded) sequence: no cache."""
    return model(ids[None], jnp.arange(ids.shape[0])[None])[0, position]


def choose(logits: jax.Array, key: jax.Array, temperature: float) -> int:
    return int(jax.random.categorical(key, logits / temperature))


def sample(
    model: CharLM, prompt: np.ndarray, length: int, key: jax.Array, temperature: float
) -> tuple[list[int], list[jax.Array]]:
    """``length`` new ids after ``prompt``, one jitted step per character with the cache."""
    # A copy of the model's modules sharing its parameters: Dropout off, attention in
    # decode mode with a fresh cache for one sequence of up to `context` characters.
    decoder = nnx.view(
        model, deterministic=True, decode=True, batch_size=1, max_length=model.context
    )
    for position, token in enumerate(prompt):  # the prompt fills the cache
        logits = decode_step(decoder, jnp.asarray(token), jnp.asarray(position))
    out, seen = [], []
    for i in range(length):
        seen.append(logits)
        out.append(choose(logits, jax.random.fold_in(key, i), temperature))
        if i + 1 < length:
            logits = decode_step(decoder, jnp.asarray(out[-1]), jnp.asarray(len(prompt) + i))
    return out, seen


def sample_without_cache(
    model: CharLM, prompt: np.ndarray, length: int, key: jax.Array, temperature: float
) -> tuple[list[int], list[jax.Array]]:
    """The same sampling, recomputing the full prefix for every character (the check)."""
    model = nnx.view(model, deterministic=True)
    ids = np.zeros(model.context, np.int32)  # one padded shape, so one compilation;
    ids[: len(prompt)] = prompt  # the causal mask keeps the padding out of view
    out, seen = [], []
    for i in range(length):
        logits = full_logits(model, jnp.asarray(ids), jnp.asarray(len(prompt) + i - 1))
        seen.append(logits)
        out.append(choose(logits, jax.random.fold_in(key, i), temperature))
        ids[len(prompt) + i] = out[-1]
    return out, seen


def plot(curve: list[dict[str, float]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps = [point["step"] for point in curve]
    ax.plot(steps, [point["train_loss"] for point in curve], label="train")
    ax.plot(steps, [point["validation_loss"] for point in curve], label="validation")
    ax.set(xlabel="step", ylabel="cross entropy (nats per character)", title="char LM loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--context", type=int, default=128, help="characters seen at once")
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--eval-every", type=int, default=None, help="default: steps // 15")
    parser.add_argument("--limit", type=int, default=None, help="use only N characters")
    parser.add_argument("--prompt", default="Return the ")
    parser.add_argument("--sample-length", type=int, default=110)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("build/examples/char_lm"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if len(args.prompt) + args.sample_length > args.context:
        parser.error("--prompt plus --sample-length must fit in --context characters")

    text = load_corpus(args.limit)
    vocab = Vocabulary(text)
    data = vocab.encode(text)
    split = int(0.9 * len(data))
    train_data, validation_data = data[:split], data[split:]
    if len(validation_data) <= args.context + 1:
        parser.error(f"--limit {args.limit} leaves too little text: the last tenth is held out")
    print(f"corpus: {len(text):,} characters, {len(vocab)} distinct, from {len(MODULES)} modules")

    model = CharLM(
        len(vocab),
        width=args.width,
        heads=args.heads,
        layers=args.layers,
        context=args.context,
        dropout=args.dropout,
        rngs=nnx.Rngs(params=args.seed, dropout=args.seed + 1),
    )
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, args.learning_rate, warmup_steps=max(1, args.steps // 20), decay_steps=args.steps
    )
    tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(schedule, weight_decay=0.01))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    parameters = sum(p.size for p in jax.tree.leaves(nnx.state(model, nnx.Param)))
    print(f"model: {parameters:,} parameters")

    rng = np.random.default_rng(args.seed)
    length = args.context + 1
    # A fixed validation set, so the points of the curve are comparable.
    validation = [windows(validation_data, args.batch_size, length, rng) for _ in range(4)]
    eval_every = args.eval_every or max(1, args.steps // 15)
    curve: list[dict[str, float]] = []
    recent: list[float] = []
    start = time.perf_counter()
    with tqdm(range(1, args.steps + 1), desc="training") as bar:
        for step in bar:
            model.train()
            loss = train_step(optimizer, windows(train_data, args.batch_size, length, rng))
            recent.append(float(loss))
            bar.set_postfix(loss=f"{recent[-1]:.3f}")
            if step % eval_every == 0 or step == args.steps:
                model.eval()
                val = float(np.mean([eval_loss(model, ids) for ids in validation]))
                curve.append(
                    {"step": step, "train_loss": float(np.mean(recent)), "validation_loss": val}
                )
                recent = []
                bar.write(
                    f"step {step:5d}  train loss {curve[-1]['train_loss']:.3f}  "
                    f"validation loss {val:.3f}"
                )
    seconds = time.perf_counter() - start
    plot(curve, args.out / "char_lm.png")

    model.eval()
    prompt = vocab.encode(args.prompt)
    key = jax.random.key(args.seed)
    start = time.perf_counter()
    cached, cached_logits = sample(model, prompt, args.sample_length, key, args.temperature)
    sample_seconds = time.perf_counter() - start
    recomputed, full = sample_without_cache(
        model, prompt, args.sample_length, key, args.temperature
    )
    pairs = zip(cached_logits, full, strict=True)
    difference = max(float(jnp.max(jnp.abs(a - b))) for a, b in pairs)
    text_out = vocab.decode(cached)
    print(f"\nsample (temperature {args.temperature}):\n{args.prompt}{text_out}\n")
    print(
        f"cached sampling gives the same {len(cached)} characters as recomputing the full "
        f"sequence: {cached == recomputed} (largest logit difference {difference:.1e})"
    )
    summary: dict[str, object] = {
        "characters": len(text),
        "vocabulary": vocab.characters,
        "parameters": parameters,
        "curve": curve,
        "train_seconds": round(seconds, 1),
        "sample_seconds": round(sample_seconds, 2),
        "prompt": args.prompt,
        "sample": text_out,
        "sample_without_cache": vocab.decode(recomputed),
        "largest_logit_difference": difference,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"trained {args.steps} steps in {seconds:.1f} s; curve in {args.out / 'char_lm.png'}")
    return summary


if __name__ == "__main__":
    main()
