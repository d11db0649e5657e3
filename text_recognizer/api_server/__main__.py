"""python -m text_recognizer.api_server, or text-recognizer serve: [--model_path ...] [--backend auto|torch|onnx]
[--host 127.0.0.1] [--port 8000] [--workers 1]

Several workers are separate processes, each with its own model; they get their settings from the
environment (uvicorn starts them by import string), which is why the flags are passed that way.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

ENV_PREFIX = "TEXT_RECOGNIZER_"
SETTING_FLAGS = {"model_path": Path, "backend": str, "max_in_flight": int, "max_batch": int, "allow_json": bool, "allow_urls": bool,
                 "allow_internal_urls": bool,
                 "threads": int, "line_decoding": str, "show_run_command": bool, "body_deadline_s": float,
                 "header_deadline_s": float, "max_url_fetches": int}


def app_from_environment():  # uvicorn's factory: one call per worker process
    from text_recognizer.api_server.app import Settings, create_app

    values = {}
    for name, kind in SETTING_FLAGS.items():
        raw = os.environ.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = raw.lower() in ("1", "true", "yes") if kind is bool else kind(raw)
    return create_app(Settings(**values))


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    from text_recognizer.api_server.app import Settings
    from text_recognizer.paragraph_text_recognizer import BACKENDS
    from text_recognizer.stems.paragraph_core import LINE_DECODINGS
    from text_recognizer.util import positive_float, positive_int

    defaults = Settings()
    parser = argparse.ArgumentParser(prog=prog, description="Serve the paragraph recognizer: REST API and web page.")
    parser.add_argument("--model_path", default=str(defaults.model_path), help="model.pt (its ONNX export beside it for onnx)")
    parser.add_argument("--backend", choices=("auto", *BACKENDS), default=defaults.backend,
                        help="auto: onnx when training/export_model.py has written the graphs beside the model")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="processes, each with its own model")
    parser.add_argument("--threads", type=int, default=defaults.threads,
                        help="the model's CPU threads in each worker (0: 1 for torch, one per core for onnx, as measured "
                        "best); workers x threads at most the cores")
    parser.add_argument("--line_decoding", choices=LINE_DECODINGS, default=defaults.line_decoding or None,
                        help="a line model's: joint (the default where it has a line CTC head, the most accurate), "
                        "ctc (about 2.5x faster), attention")
    parser.add_argument("--max_in_flight", type=int, default=defaults.max_in_flight, help="more requests than this get 503")
    parser.add_argument("--max_batch", type=int, default=defaults.max_batch, help="requests read together")
    parser.add_argument("--allow_json", action="store_true", help="accept JSON bodies with base64 images")
    parser.add_argument("--allow_urls", action="store_true", help="accept JSON bodies naming an image URL to fetch "
                        "(public addresses only, at most the upload size)")
    parser.add_argument("--allow_internal_urls", action="store_true",
                        help="with --allow_urls: let URLs name loopback, private and link-local addresses too")
    parser.add_argument("--body_deadline_s", type=positive_float, default=defaults.body_deadline_s,
                        help="a request body must arrive whole within this (else 408), and an image URL be fetched")
    parser.add_argument("--header_deadline_s", type=positive_float, default=defaults.header_deadline_s,
                        help="a connection must send a request's headers within this, else it is closed")
    parser.add_argument("--max_url_fetches", type=positive_int, default=defaults.max_url_fetches,
                        help="with --allow_urls: image URLs fetched at once; more get 503")
    parser.add_argument("--show_run_command", action="store_true",
                        help="GET /v1/model gives the model's training command verbatim (the trainer's paths)")
    args = parser.parse_args(argv)
    if args.threads < 0:
        parser.error(f"--threads must be 0 (auto) or more, got {args.threads}")
    if not Path(args.model_path).exists():
        print(f"error: no model at {args.model_path}: train and select one (see the README), or pass --model_path", file=sys.stderr)
        return 1
    for name in SETTING_FLAGS:
        value = getattr(args, name)
        os.environ[ENV_PREFIX + name.upper()] = "" if value is None else str(value)
    # The model is loaded once here, before any worker starts: a bad model file made uvicorn respawn
    # workers that each died with a traceback, forever (--workers 2), or end in a 46-line traceback (1).
    try:
        app_from_environment()
    except (FileNotFoundError, ValueError, OSError, TypeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The h11 protocol with a deadline for request headers (uvicorn has none): connections.py.
    uvicorn.run("text_recognizer.api_server.__main__:app_from_environment", factory=True, host=args.host,
                port=args.port, workers=args.workers, http="text_recognizer.api_server.connections:HeaderDeadlineProtocol")
    return 0


if __name__ == "__main__":
    sys.exit(main())
