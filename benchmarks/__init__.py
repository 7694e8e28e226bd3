"""Benchmarks: the per-step cost of ``nnx`` against pure JAX, Flax NNX 0.12.8 and Equinox.

Run ``python -m benchmarks.run`` (``make bench``); ``--smoke`` for a quick pass that only
shows the harness works. The method is described in ``benchmarks/README.md``.
"""
