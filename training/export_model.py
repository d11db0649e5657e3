"""Export a paragraph model to ONNX: an encoder graph and a decoder step graph with a key/value cache.

    python training/export_model.py [--model_path text_recognizer/artifacts/paragraph_text_recognizer/model.pt]
                                    [--output_dir DIR]   # default: beside the model file

writes, beside the model (or in --output_dir):
- encoder.onnx: image (B, 1, H, W) in [0, 1], H and W multiples of 32 up to the canvas ->
  memory_key_i, memory_value_i (B, heads, M, head_dim) for every decoder layer i: the cross-attention
  keys and values, computed once per image.
- decoder_step.onnx: token (B,) at position t, past_key_i/past_value_i (B, heads, t, head_dim) and the
  memory keys/values -> logits (B, classes) for position t + 1 and present_key_i/present_value_i
  (B, heads, t + 1, head_dim). Feeding only the newest token keeps decoding linear in the output length.
- onnx_model.json: the mapping, the special tokens, the sizes and the preprocessing settings the
  ONNX backend of ParagraphTextRecognizer needs (it reads no torch file).

Batch, image size and cache length are dynamic. The step uses the same parameters as the cached torch
decoder (decoding._Layer) and the same arithmetic; `check_export` compares the two.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from text_recognizer import onnx_model
from text_recognizer.metadata import iam_paragraphs as metadata
from text_recognizer.model_file import build_model, model_config, read_checkpoint
from text_recognizer.models import decoding
from text_recognizer.models.resnet_transformer import ResnetTransformer
from text_recognizer.run_files import DEFAULT_MODEL_PATH, RUN_COMMAND_FILE
from text_recognizer.stems import paragraph_core
from text_recognizer.util import atomic_path, compute_sha256

OPSET = 18
EXAMPLE_BATCH, EXAMPLE_PAST = 2, 5  # example sizes for tracing (not 0 or 1, which export would specialise)


class EncoderGraph(nn.Module):
    """image -> the cross-attention keys and values of every decoder layer."""

    def __init__(self, model: ResnetTransformer) -> None:
        super().__init__()
        self.model = model
        self.layers = [decoding._Layer(layer) for layer in model.decoder.layers]  # type: ignore[arg-type]

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        memory = self.model.encode(image)  # (B, 360, 256) for 576x640 at /32
        outputs: list[torch.Tensor] = []
        for layer in self.layers:
            kv = layer.memory_keys_values(memory)  # (2, B, h, M, dh)
            outputs += [kv[0], kv[1]]
        return tuple(outputs)


class LineCtcGraph(nn.Module):
    """line image -> the line CTC head's log-probabilities (B, frames, C), for models that have one."""

    def __init__(self, model: ResnetTransformer) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.model.ctc_logits(self.model.feature_map(image)), dim=-1)


class DecoderStepGraph(nn.Module):
    """One greedy step: the newest token and the cache -> next-token logits and the grown cache.

    The layer math is decoding._Layer.step with the cache grown by concatenation instead of written
    in place (an ONNX graph returns new tensors); the position is the cache's length."""

    def __init__(self, model: ResnetTransformer) -> None:
        super().__init__()
        self.decoder = model.decoder
        self.layers = [decoding._Layer(layer) for layer in model.decoder.layers]  # type: ignore[arg-type]

    def forward(self, token: torch.Tensor, *cache: torch.Tensor) -> tuple[torch.Tensor, ...]:
        count = len(self.layers)
        past, memory = cache[: 2 * count], cache[2 * count :]
        t = past[0].shape[2]
        x = self.decoder.embed(token.unsqueeze(1), offset=t)  # (B, 1, d)
        presents: list[torch.Tensor] = []
        for i, layer in enumerate(self.layers):
            x, key, value = self._layer_step(layer, x, past[2 * i], past[2 * i + 1], memory[2 * i], memory[2 * i + 1])
            presents += [key, value]
        return (self.decoder.output_logits(x[:, 0]), *presents)

    @staticmethod
    def _layer_step(
        layer: decoding._Layer, x: torch.Tensor, past_key: torch.Tensor, past_value: torch.Tensor,
        memory_key: torch.Tensor, memory_value: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        def self_attention(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            qkv = nn.functional.linear(h, *layer.qkv).view(h.shape[0], 3, layer.heads, layer.head_dim)  # (B, 3, h, dh)
            key = torch.cat([past_key, qkv[:, 1].unsqueeze(2)], dim=2)  # (B, h, t + 1, dh)
            value = torch.cat([past_value, qkv[:, 2].unsqueeze(2)], dim=2)
            return layer.attend(qkv[:, 0].unsqueeze(2), key, value, layer.self_out), key, value

        def cross_attention(h: torch.Tensor) -> torch.Tensor:
            q = nn.functional.linear(h, *layer.cross_q).view(h.shape[0], layer.heads, 1, layer.head_dim)
            return layer.attend(q, memory_key, memory_value, layer.cross_out)

        if layer.norm_first:
            attended, key, value = self_attention(layer.norm(0, x))
            x = x + attended
            x = x + cross_attention(layer.norm(1, x))
            return x + layer.feed_forward(layer.norm(2, x)), key, value
        attended, key, value = self_attention(x)
        x = layer.norm(0, x + attended)
        x = layer.norm(1, x + cross_attention(x))
        return layer.norm(2, x + layer.feed_forward(x)), key, value


def _names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}_{kind}_{i}" for i in range(count) for kind in ("key", "value")]


def _config(content: dict[str, Any], model: ResnetTransformer, model_path: Path) -> dict[str, Any]:
    decoder = model.decoder
    run_command = model_path.parent / RUN_COMMAND_FILE
    return {
        "format": onnx_model.FORMAT_VERSION,
        "source": model_path.name,
        # The ONNX backend refuses graphs whose model file has since been replaced (a stale export).
        "source_sha256": compute_sha256(model_path),
        "model_class": content["model_class"],
        "model_config": model_config(content["model_class"], content["model_config"]),
        "data_config": content["data_config"],
        "run_command": run_command.read_text().strip() if run_command.is_file() else None,
        "mapping": list(decoder_mapping(content)),
        "start_token": decoder.start_token,
        "end_token": decoder.end_token,
        "padding_token": decoder.padding_token,
        "max_output_length": decoder.max_output_length,
        "num_layers": len(decoder.layers),
        "heads": decoder.nhead,
        "head_dim": decoder.dim // decoder.nhead,
        "encoder": onnx_model.ENCODER_FILENAME,
        "decoder_step": onnx_model.DECODER_STEP_FILENAME,
        "line_ctc": onnx_model.LINE_CTC_FILENAME if model.ctc_head is not None else None,
        # The preprocessing is ParagraphStem(augment=False, match_scale=True): these are its settings,
        # recorded for other clients of the graphs (the ONNX backend runs the same Python code).
        "preprocessing": {
            "fixed_canvas": bool(content["data_config"].get("fixed_canvas", False)),
            "image_shape": list(metadata.IMAGE_SHAPE),
            "size_multiple": paragraph_core.SIZE_MULTIPLE,
            "target_line_pitch": float(content["data_config"].get("line_pitch", paragraph_core.TARGET_LINE_PITCH)),
            "white_ink_on_black": True,
            "scale": "uint8 / 255",
        },
    }


def decoder_mapping(content: dict[str, Any]) -> list[str]:
    return list(content["data_config"]["mapping"])


def export(model_path: str | Path, output_dir: str | Path | None = None, check: bool = True) -> Path:
    """Write encoder.onnx, decoder_step.onnx (and line_ctc.onnx for a model with a line CTC head) and
    onnx_model.json; returns the JSON's path."""
    model_path = Path(model_path)
    content = read_checkpoint(model_path)
    model = build_model(content, source=model_path)
    if not isinstance(model, ResnetTransformer):
        raise ValueError(f"{model_path} holds a {type(model).__name__}; only ResnetTransformer models are exported")
    output = Path(output_dir) if output_dir is not None else model_path.parent
    output.mkdir(parents=True, exist_ok=True)
    config = _config(content, model, model_path)
    count, heads, head_dim = config["num_layers"], config["heads"], config["head_dim"]
    _, height, width = model.data_config["input_dims"]

    # Images are padded to multiples of 32 and fit the canvas: H = 32 * rows, W = 32 * columns.
    batch = torch.export.Dim("batch", min=1, max=4096)
    rows = torch.export.Dim("rows", min=1, max=height // paragraph_core.SIZE_MULTIPLE)
    columns = torch.export.Dim("columns", min=1, max=width // paragraph_core.SIZE_MULTIPLE)
    image = torch.rand(EXAMPLE_BATCH, 1, 64, 96)
    encoder = EncoderGraph(model).eval()
    with torch.inference_mode(False), torch.no_grad():
        memory_kv = encoder(image)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and fake-tensor chatter
        encoder_program = torch.onnx.export(
            encoder, (image,), input_names=["image"], output_names=_names("memory", count), opset_version=OPSET,
            dynamo=True, external_data=False, verbose=False,
            dynamic_shapes={"image": {0: batch, 2: paragraph_core.SIZE_MULTIPLE * rows, 3: paragraph_core.SIZE_MULTIPLE * columns}},
        )
    memory_length = torch.export.Dim("memory", min=1, max=100_000)
    past = torch.export.Dim("past", min=0, max=config["max_output_length"] - 1)
    token = torch.randint(0, len(config["mapping"]), (EXAMPLE_BATCH,))
    past_kv = tuple(torch.rand(EXAMPLE_BATCH, heads, EXAMPLE_PAST, head_dim) for _ in range(2 * count))
    step = DecoderStepGraph(model).eval()
    step_shapes = [{0: batch}] + [{0: batch, 2: past}] * (2 * count) + [{0: batch, 2: memory_length}] * (2 * count)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        step_program = torch.onnx.export(
            step, (token, *past_kv, *memory_kv), opset_version=OPSET, dynamo=True, external_data=False, verbose=False,
            input_names=["token", *_names("past", count), *_names("memory", count)],
            output_names=["logits", *_names("present", count)],
            dynamic_shapes=(step_shapes[0], tuple(step_shapes[1:])),  # forward(token, *cache)
        )
    assert encoder_program is not None and step_program is not None
    programs = [(encoder_program, config["encoder"]), (step_program, config["decoder_step"])]
    if config["line_ctc"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ctc_program = torch.onnx.export(
                LineCtcGraph(model).eval(), (image,), input_names=["image"], output_names=["log_probs"],
                opset_version=OPSET, dynamo=True, external_data=False, verbose=False,
                dynamic_shapes={"image": {0: batch, 2: paragraph_core.SIZE_MULTIPLE * rows, 3: paragraph_core.SIZE_MULTIPLE * columns}},
            )
        assert ctc_program is not None
        programs.append((ctc_program, config["line_ctc"]))
    for program, name in programs:
        with atomic_path(output / name) as temp:
            program.save(str(temp))
    json_path = output / onnx_model.CONFIG_FILENAME
    with atomic_path(json_path) as temp:
        temp.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    if check:
        difference = check_export(model, json_path)
        print(f"max |onnx - torch| of memory and logits: {difference:.2e}")
    return json_path


def check_export(model: ResnetTransformer, json_path: Path, tolerance: float = 1e-3) -> float:
    """Run both graphs next to the torch model on a random page and a few decoding steps."""
    import numpy as np

    graphs = onnx_model.OnnxTextModel(json_path)
    torch.manual_seed(0)
    image = torch.rand(2, 1, 128, 192)
    with torch.inference_mode():
        memory = model.encode(image)
        layers = [decoding._Layer(layer) for layer in model.decoder.layers]  # type: ignore[arg-type]
        expected_kv = [layer.memory_keys_values(memory) for layer in layers]
        tokens = torch.tensor([[model.decoder.start_token, 5, 9, 11]] * 2)
        expected_logits = model.decoder.sequence_logits(memory, tokens)  # (B, 4, C)
    got_kv = graphs.encode(image.numpy())
    worst = max(
        float(np.abs(got_kv[2 * i + j] - expected_kv[i][j].numpy()).max()) for i in range(len(layers)) for j in range(2)
    )
    past = graphs.empty_cache(2)
    for t in range(tokens.shape[1]):
        logits, past = graphs.step(tokens[:, t].numpy(), past, got_kv)
        worst = max(worst, float(np.abs(logits - expected_logits[:, t].numpy()).max()))
    if graphs.line_ctc is not None:
        with torch.inference_mode():
            expected_ctc = LineCtcGraph(model)(image).numpy()
        worst = max(worst, float(np.abs(graphs.line_ctc_log_probs(image.numpy()) - expected_ctc).max()))
    if not math.isfinite(worst) or worst > tolerance:
        raise RuntimeError(f"the exported graphs differ from the torch model by {worst:.2e} (> {tolerance})")
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_path", default=str(DEFAULT_MODEL_PATH), help="model.pt or a Lightning .ckpt")
    parser.add_argument("--output_dir", default=None, help="where to write the graphs (default: beside the model)")
    args = parser.parse_args(argv)
    try:
        json_path = export(args.model_path, args.output_dir)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    graphs = [onnx_model.ENCODER_FILENAME, onnx_model.DECODER_STEP_FILENAME]
    if json.loads(json_path.read_text()).get("line_ctc"):
        graphs.append(onnx_model.LINE_CTC_FILENAME)
    print(f"wrote {', '.join(str(json_path.parent / name) for name in graphs)}, {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
