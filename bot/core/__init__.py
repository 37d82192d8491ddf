"""The answer: model, text, index and engine. Pure: no I/O, no YAML, no SQL, no platform."""
