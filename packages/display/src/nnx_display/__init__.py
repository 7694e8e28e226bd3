"""nnx-display: see the repository README; this package is being built."""
