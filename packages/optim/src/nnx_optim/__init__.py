"""nnx-optim: see the repository README; this package is being built."""
