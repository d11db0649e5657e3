"""Export a paragraph model to ONNX: an encoder graph and a decoder step graph with a key/value cache.

    python training/export_model.py [--model_path text_recognizer/artifacts/paragraph_text_recognizer/model.pt]
                                    [--output_dir DIR]   # default: beside the model file

writes, beside the model (or in --output_dir):
- encoder.onnx: image (B, 1, H, W) in [0, 1], H and W multiples of 32 up to the canvas ->
  memory_key_i (B, heads, head_dim, M) and memory_value_i (B, heads, M, head_dim) for every decoder
  layer i: the cross-attention keys (transposed) and values, computed once per image; for a model with a
  line CTC head also ctc_log_probs (B, frames, classes), the head's, from the same ResNet pass.
- decoder_step.onnx: token (B,) at position (1,), cache_mask (C,) (0 for the C cache slots filled so
  far, -inf for the rest), memory_mask (B, M) (0 for an image's own memory cells, -inf for the padding of a
  batch of images of several sizes: see text_recognizer/batch_regions.py), cache_key_i (B, heads, head_dim, C), cache_value_i (B, heads, C, head_dim) and
  the memory keys/values -> logits (B, classes) for the next position and new_key_i (B, heads, head_dim, 1)
  and new_value_i (B, heads, 1, head_dim), the token's own, which the caller writes into its cache slot. Feeding only the
  newest token keeps decoding linear in the output length, and a step copies nothing of the cache.
- decoder_sequence.onnx: tokens (B, T), memory_mask and the memory keys/values -> log_probs (B, T, classes), teacher
  forced: joint reading scores whole candidate texts with it in one pass.
- onnx_model.json: the mapping, the special tokens, the sizes and the preprocessing settings the
  ONNX backend of ParagraphTextRecognizer needs (it reads no torch file).

Batch, image size and cache capacity are dynamic. The step uses the same parameters as the cached torch
decoder (decoding._Layer) and the same arithmetic; `check_export` compares the two.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
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
from text_recognizer.models.transformer_util import sinusoid_table
from text_recognizer.run_files import PACKAGE_DIR, RUN_COMMAND_FILE, default_artifacts_dir, default_model_path
from text_recognizer.stems import paragraph_core
from text_recognizer.util import atomic_path, compute_sha256

OPSET = 18
EXAMPLE_BATCH, EXAMPLE_CAPACITY = 2, 5  # example sizes for tracing (not 0 or 1, which export would specialise)


class EncoderGraph(nn.Module):
    """image -> the cross-attention keys and values of every decoder layer, and for a model with a line CTC
    head, the head's log-probabilities too: the ResNet runs once for both (joint reading needs both)."""

    def __init__(self, model: ResnetTransformer) -> None:
        super().__init__()
        self.model = model
        self.layers = [decoding._Layer(layer) for layer in model.decoder.layers]  # type: ignore[arg-type]

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.model.feature_map(image)
        memory = self.model.memory(features)  # (B, 360, 256) for 576x640 at /32
        outputs: list[torch.Tensor] = []
        for layer in self.layers:
            kv = layer.memory_keys_values(memory)  # (2, B, h, M, dh)
            outputs += [kv[0].transpose(2, 3), kv[1]]  # keys (B, h, dh, M): the step multiplies by them as they are
        if self.model.ctc_head is not None:
            outputs.append(torch.log_softmax(self.model.ctc_logits(features), dim=-1))  # (B, frames, C)
        return tuple(outputs)


class DecoderStepGraph(nn.Module):
    """One greedy step: the newest token, its position and the cache -> next-token logits and the token's
    own keys (B, h, dh, 1) and values (B, h, 1, dh), which the caller writes into the cache at that position.

    The layer math is decoding._Layer.step's, rearranged so that a step never copies the cache: the cache has a fixed capacity
    (the caller grows it, rarely) with a mask over its unfilled slots; the keys are kept transposed
    (B, h, dh, capacity), as the memory's are, so that both attentions are plain MatMuls; the newest token
    attends to itself through a score of its own; the attention scale is folded into the query weights.
    (Growing the cache by concatenation and transposing the keys at every step took 8 Transposes and 24
    Concats of a 211-node step: 1.0 ms a step at batch 1, 2 threads. This one takes about 0.35 ms, near
    what its reads of the weights and memory alone take: benchmark_decoding.py's "floor" row.)"""

    def __init__(self, model: ResnetTransformer) -> None:
        super().__init__()
        decoder = model.decoder
        self.decoder = decoder
        self.layers = [_StepLayer(decoding._Layer(layer)) for layer in decoder.layers]  # type: ignore[arg-type]
        # Constants folded at export: the embedding times sqrt(dim), the sinusoid of every position.
        self.embedding = decoder.embedding.weight.detach() * math.sqrt(decoder.dim)
        self.positions = sinusoid_table(decoder.max_output_length, decoder.dim).to(self.embedding.dtype)

    def forward(self, token: torch.Tensor, position: torch.Tensor, cache_mask: torch.Tensor, memory_mask: torch.Tensor,
                *cache: torch.Tensor) -> tuple[torch.Tensor, ...]:
        count = len(self.layers)
        past, memory = cache[: 2 * count], cache[2 * count :]
        x = self.embedding[token] + self.positions[position]  # (B, d)
        memory_mask = memory_mask[:, None, None, :]  # (B, 1, 1, M): added to every head's scores
        news: list[torch.Tensor] = []
        for i, layer in enumerate(self.layers):
            x, key, value = layer(x, cache_mask, past[2 * i], past[2 * i + 1], memory[2 * i], memory[2 * i + 1], memory_mask)
            news += [key, value]
        return (self.decoder.output_logits(x), *news)


class _StepLayer:
    """One decoder layer for export. Called: decoding._Layer.step on (B, d) rows against cache_key (B, h, dh, C), cache_value (B, h, C, dh), cache_mask
    (C,) (0 where filled, -inf where not), memory_key (B, h, dh, M), memory_value (B, h, M, dh), memory_mask
    (B, 1, 1, M) (0 for an image's own cells, -inf for padding); returns the
    layer's output and the token's own key (B, h, dh, 1) and value (B, h, 1, dh). `sequence`: all positions at
    once (the teacher-forced graph)."""

    def __init__(self, layer: decoding._Layer) -> None:
        self.layer, dim, heads, head_dim = layer, layer.dim, layer.heads, layer.head_dim
        scale = 1 / math.sqrt(head_dim)
        weight, bias = (tensor.detach().clone() for tensor in layer.qkv)
        weight[:dim] *= scale
        bias[:dim] *= scale
        self.qkv = (weight, bias)
        self.cross_query = tuple(tensor.detach() * scale for tensor in layer.cross_q)
        self.rows = (-1, heads, 1, head_dim)  # (B, d) -> (B, h, 1, dh): constant shapes, no shape arithmetic
        self.columns = (-1, heads, head_dim, 1)

    def self_attention(self, h: torch.Tensor, cache_mask: torch.Tensor, cache_key: torch.Tensor,
                       cache_value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q, key, value = nn.functional.linear(h, *self.qkv).split(self.layer.dim, dim=-1)
        q, key, value = q.reshape(self.rows), key.reshape(self.columns), value.reshape(self.rows)
        scores = torch.cat([torch.matmul(q, cache_key) + cache_mask, torch.matmul(q, key)], dim=-1)  # (B, h, 1, C + 1)
        cached, own = torch.softmax(scores, dim=-1).split([cache_key.shape[-1], 1], dim=-1)
        attended = torch.matmul(cached, cache_value) + own * value  # (B, h, 1, dh)
        return nn.functional.linear(attended.reshape(-1, self.layer.dim), *self.layer.self_out), key, value

    def cross_attention(self, h: torch.Tensor, memory_key: torch.Tensor, memory_value: torch.Tensor,
                        memory_mask: torch.Tensor) -> torch.Tensor:
        q = nn.functional.linear(h, *self.cross_query).reshape(self.rows)
        scores = torch.matmul(q, memory_key) + memory_mask  # (B, h, 1, M)
        attended = torch.matmul(torch.softmax(scores, dim=-1), memory_value)  # (B, h, 1, dh)
        return nn.functional.linear(attended.reshape(-1, self.layer.dim), *self.layer.cross_out)

    def sequence(self, x: torch.Tensor, causal: torch.Tensor, memory_key: torch.Tensor, memory_value: torch.Tensor,
                 memory_mask: torch.Tensor) -> torch.Tensor:
        """The layer over all T positions of (B, T, d) at once, `causal` (T, T) added to the self-attention's scores,
        `memory_mask` (B, 1, 1, M) to the cross-attention's."""
        layer, batch, length = self.layer, x.shape[0], x.shape[1]
        heads = (batch, length, layer.heads, layer.head_dim)

        def self_attention(h: torch.Tensor) -> torch.Tensor:
            q, key, value = (part.reshape(heads).transpose(1, 2) for part in nn.functional.linear(h, *self.qkv).split(layer.dim, dim=-1))
            weights = torch.softmax(torch.matmul(q, key.transpose(2, 3)) + causal, dim=-1)  # (B, h, T, T)
            attended = torch.matmul(weights, value).transpose(1, 2).reshape(batch, length, layer.dim)
            return nn.functional.linear(attended, *layer.self_out)

        def cross_attention(h: torch.Tensor) -> torch.Tensor:
            q = nn.functional.linear(h, *self.cross_query).reshape(heads).transpose(1, 2)  # (B, h, T, dh)
            attended = torch.matmul(torch.softmax(torch.matmul(q, memory_key) + memory_mask, dim=-1), memory_value)
            return nn.functional.linear(attended.transpose(1, 2).reshape(batch, length, layer.dim), *layer.cross_out)

        return layer.residual_blocks(x, self_attention, cross_attention)

    def __call__(self, x: torch.Tensor, cache_mask: torch.Tensor, cache_key: torch.Tensor, cache_value: torch.Tensor,
                 memory_key: torch.Tensor, memory_value: torch.Tensor,
                 memory_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        own: list[torch.Tensor] = []  # the token's key and value, made inside the self-attention

        def self_attention(h: torch.Tensor) -> torch.Tensor:
            attended, key, value = self.self_attention(h, cache_mask, cache_key, cache_value)
            own.extend((key, value))
            return attended

        x = self.layer.residual_blocks(x, self_attention, lambda h: self.cross_attention(h, memory_key, memory_value, memory_mask))
        return x, own[0], own[1]


class DecoderSequenceGraph(nn.Module):
    """Teacher forcing: tokens (B, T) and the memory keys/values -> (B, T, classes) log-probabilities, position
    i's of the token after it given tokens <= i (TransformerTextDecoder.sequence_logits' arithmetic). Joint
    reading scores its candidate texts with it in one pass instead of stepping the decoder through them."""

    def __init__(self, model: ResnetTransformer) -> None:
        super().__init__()
        step = DecoderStepGraph(model)
        self.decoder, self.embedding, self.positions, self.layers = model.decoder, step.embedding, step.positions, step.layers

    def forward(self, tokens: torch.Tensor, memory_mask: torch.Tensor, *memory: torch.Tensor) -> torch.Tensor:
        length = tokens.shape[1]
        x = self.embedding[tokens] + self.positions[:length]  # (B, T, d)
        causal = torch.full((length, length), float("-inf")).triu(1)  # position i sees tokens <= i
        memory_mask = memory_mask[:, None, None, :]  # (B, 1, 1, M)
        for i, layer in enumerate(self.layers):
            x = layer.sequence(x, causal, memory[2 * i], memory[2 * i + 1], memory_mask)
        return torch.log_softmax(self.decoder.output_logits(x), dim=-1)


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
        "decoder_sequence": onnx_model.DECODER_SEQUENCE_FILENAME,
        "ctc_output": onnx_model.CTC_OUTPUT if model.ctc_head is not None else None,
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
    """Write encoder.onnx, decoder_step.onnx, decoder_sequence.onnx and onnx_model.json; returns the JSON's path."""
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
        memory_kv = encoder(image)[: 2 * count]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and fake-tensor chatter
        encoder_program = torch.onnx.export(
            encoder, (image,), input_names=["image"], opset_version=OPSET,
            output_names=_names("memory", count) + ([config["ctc_output"]] if config["ctc_output"] else []),
            dynamo=True, external_data=False, verbose=False,
            dynamic_shapes={"image": {0: batch, 2: paragraph_core.SIZE_MULTIPLE * rows, 3: paragraph_core.SIZE_MULTIPLE * columns}},
        )
    memory_length = torch.export.Dim("memory", min=1, max=100_000)
    capacity = torch.export.Dim("capacity", min=1, max=100_000)
    token = torch.randint(0, len(config["mapping"]), (EXAMPLE_BATCH,))
    position = torch.tensor([EXAMPLE_CAPACITY - 1])
    cache_mask = torch.zeros(EXAMPLE_CAPACITY)
    memory_mask = torch.zeros(EXAMPLE_BATCH, memory_kv[1].shape[2])  # (B, M): nothing masked
    cache_kv = tuple(torch.rand(EXAMPLE_BATCH, heads, *sizes) for _ in range(count)
                     for sizes in ((head_dim, EXAMPLE_CAPACITY), (EXAMPLE_CAPACITY, head_dim)))
    step = DecoderStepGraph(model).eval()
    key_shape, value_shape = {0: batch, 3: capacity}, {0: batch, 2: capacity}
    memory_shapes = [{0: batch, 3: memory_length}, {0: batch, 2: memory_length}] * count
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        step_program = torch.onnx.export(
            step, (token, position, cache_mask, memory_mask, *cache_kv, *memory_kv), opset_version=OPSET, dynamo=True,
            external_data=False, verbose=False,
            input_names=["token", "position", "cache_mask", "memory_mask", *_names("cache", count), *_names("memory", count)],
            output_names=["logits", *_names("new", count)],
            # forward(token, position, cache_mask, memory_mask, *cache)
            dynamic_shapes=({0: batch}, None, {0: capacity}, {0: batch, 1: memory_length},
                            tuple([key_shape, value_shape] * count + memory_shapes)),
        )
    length = torch.export.Dim("length", min=1, max=config["max_output_length"])
    tokens = torch.randint(0, len(config["mapping"]), (EXAMPLE_BATCH, EXAMPLE_CAPACITY))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sequence_program = torch.onnx.export(
            DecoderSequenceGraph(model).eval(), (tokens, memory_mask, *memory_kv), opset_version=OPSET, dynamo=True,
            external_data=False, verbose=False, input_names=["tokens", "memory_mask", *_names("memory", count)],
            output_names=["log_probs"],
            # forward(tokens, memory_mask, *memory)
            dynamic_shapes=({0: batch, 1: length}, {0: batch, 1: memory_length}, tuple(memory_shapes)),
        )
    assert encoder_program is not None and step_program is not None and sequence_program is not None
    programs = [(encoder_program, config["encoder"]), (step_program, config["decoder_step"]),
                (sequence_program, config["decoder_sequence"])]
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
    """Run the graphs next to the torch model on a random page and a few decoding steps, the second page's last
    memory cells masked (as the padding of a batch of images of several sizes is)."""
    import numpy as np

    graphs = onnx_model.OnnxTextModel(json_path)
    torch.manual_seed(0)
    image = torch.rand(2, 1, 128, 192)
    with torch.inference_mode():
        memory = model.encode(image)
        layers = [decoding._Layer(layer) for layer in model.decoder.layers]  # type: ignore[arg-type]
        # (keys, values) per layer; the encoder's keys are transposed
        expected_kv = [(kv[0].transpose(2, 3), kv[1]) for kv in (layer.memory_keys_values(memory) for layer in layers)]
        tokens = torch.tensor([[model.decoder.start_token, 5, 9, 11]] * 2)
        padding = torch.zeros(memory.shape[:2], dtype=torch.bool)
        padding[1, -3:] = True
        expected_logits = model.decoder.sequence_logits(memory, tokens, padding)  # (B, 4, C)
    memory_mask = np.where(padding.numpy(), -np.inf, 0.0).astype(np.float32)
    got_kv = graphs.encode(image.numpy())
    worst = max(
        float(np.abs(got_kv[2 * i + j] - expected_kv[i][j].numpy()).max()) for i in range(len(layers)) for j in range(2)
    )
    cache = graphs.start(got_kv, tokens.shape[1], capacity=2, memory_mask=memory_mask)  # it grows on the third step: checked too
    for t in range(tokens.shape[1]):
        logits = cache.step(tokens[:, t].numpy())
        worst = max(worst, float(np.abs(logits - expected_logits[:, t].numpy()).max()))
    with torch.inference_mode():
        expected_totals = model.decoder.sequence_log_likelihood(memory, tokens, padding).numpy()
    got_totals = graphs.sequence_log_likelihood(got_kv, tokens.numpy(), memory_mask)
    worst = max(worst, float(np.abs(got_totals - expected_totals).max()))
    if graphs.has_ctc_head:
        with torch.inference_mode():
            expected_ctc = torch.log_softmax(model.ctc_logits(model.feature_map(image)), dim=-1).numpy()
        worst = max(worst, float(np.abs(graphs.line_ctc_log_probs(image.numpy()) - expected_ctc).max()))
    if not math.isfinite(worst) or worst > tolerance:
        raise RuntimeError(f"the exported graphs differ from the torch model by {worst:.2e} (> {tolerance})")
    return worst


def default_output_dir(model_path: Path) -> Path:
    """Beside the model, where the ONNX backend looks for the graphs; but a model inside the package of an
    installed wheel (site-packages: perhaps not writable, replaced by the next pip install) is first copied
    with its files into default_artifacts_dir(), which reading then prefers (run_files.default_model_path)."""
    folder = model_path.resolve().parent
    if not folder.is_relative_to(PACKAGE_DIR) or default_artifacts_dir().resolve().is_relative_to(PACKAGE_DIR):
        return model_path.parent  # a clone's artifacts, or a model of the user's own
    copy = default_artifacts_dir() / folder.name
    copy.mkdir(parents=True, exist_ok=True)
    for source in folder.iterdir():
        if source.is_file():
            shutil.copy2(source, copy / source.name)
    print(f"copied {folder} into {copy} (reading uses that copy now) to write the graphs beside it")
    return copy


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """`prog` names the command in the usage line (default: the script's name)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_path", default=str(default_model_path()), help="model.pt or a Lightning .ckpt")
    parser.add_argument("--output_dir", default=None, help="where to write the graphs (default: beside the model; "
                        "for the shipped model of an installed package, a copy of it in the user's artifacts folder)")
    args = parser.parse_args(argv)
    try:
        output_dir = args.output_dir if args.output_dir is not None else default_output_dir(Path(args.model_path))
        json_path = export(args.model_path, output_dir)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    graphs = [onnx_model.ENCODER_FILENAME, onnx_model.DECODER_STEP_FILENAME, onnx_model.DECODER_SEQUENCE_FILENAME]
    print(f"wrote {', '.join(str(json_path.parent / name) for name in graphs)}, {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
