"""`python -m ollama_bench` runs the `obench` command line."""

from ollama_bench.cli import main

main()
