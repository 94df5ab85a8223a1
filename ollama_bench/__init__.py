"""ollama-bench: time, validate and score vision-language models served by Ollama."""

__version__ = "0.1.0"
