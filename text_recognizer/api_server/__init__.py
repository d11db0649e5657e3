"""The REST API and web page of the paragraph recognizer (FastAPI); `python -m api_server` serves it."""
