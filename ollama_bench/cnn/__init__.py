"""Classic CNN inference and training benchmarks in torch, an optional extra (`ollama-bench[cnn]`).

Only `cli`, `guard`, `records` and `summary` import without torch; everything else needs it.
"""
