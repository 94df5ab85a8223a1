"""The only code that speaks to model servers: target specs (spec.py) and Ollama (ollama.py)."""
