"""The REST API and web page of the paragraph recognizer (FastAPI).

`text-recognizer serve` or `python -m text_recognizer.api_server` serves it ([serve] extra)."""
