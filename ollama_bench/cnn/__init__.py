"""Classic CNN inference and training benchmarks in torch, an optional extra (`ollama-bench[cnn]`).

`cli`, `guard`, `records`, the `*summary` modules and `report` import without torch (a run file
can be read and summarised anywhere); everything else needs it.
"""
