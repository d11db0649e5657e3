"""The exported paragraph model (training/export_model.py) run by onnxruntime: numpy in, tokens out, no torch.

`OnnxTextModel(json_path).predict(x)` is ResnetTransformer.predict(x, return_log_probs=True) for greedy
decoding: the same rule (argmax, the log-probability of each chosen token summed until <E>, <P>
after it) on the logits of the exported decoder step, which feeds only the newest token and carries
the keys and values of the earlier ones. Given `sizes`, each image is read on its own region of the padded
batch, as the torch backend reads it (batch_regions.py): the encoder runs once per size, and the decoder
graphs take a memory mask.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from text_recognizer.batch_regions import groups_of_equal_size, pad_ctc_frames
from text_recognizer.bounds import MAX_MAPPING_SIZE, MAX_OUTPUT_LENGTH, check_data_config, check_int
from text_recognizer.joint_decoding import JOINT_CTC_WEIGHT, ctc_log_likelihoods, joint_choice
from text_recognizer.line_guard import line_length_limits, min_char_width
from text_recognizer.metadata.iam_paragraphs import NEW_LINE_TOKEN
from text_recognizer.util import compute_sha256
from text_recognizer.vocabulary import Vocabulary

# 4: decoder graphs with a memory_mask input (3: a step that copies no cache; 2: the cache grown by the step;
# 1: the run's flags under "args")
FORMAT_VERSION = 4
CONFIG_FILENAME = "onnx_model.json"
ENCODER_FILENAME = "encoder.onnx"
DECODER_STEP_FILENAME = "decoder_step.onnx"
DECODER_SEQUENCE_FILENAME = "decoder_sequence.onnx"  # teacher forcing: scores whole texts in one pass
CTC_OUTPUT = "ctc_log_probs"  # the encoder's last output for a model with a line CTC head
FIRST_CACHE_SLOTS = 64  # the decoder cache's first capacity; it doubles when full (a step attends over every slot)


# The inputs each graph must take: a graph swapped for another (or from another export) is named at load,
# not found out by onnxruntime in the middle of a read.
GRAPH_INPUTS = {"encoder": {"image"}, "decoder_step": {"token", "position", "cache_mask", "memory_mask"},
                "decoder_sequence": {"tokens", "memory_mask"}}
MAX_LAYERS, MAX_HEADS, MAX_HEAD_DIM = 64, 64, 4096  # as the torch models' settings (models/transformer_decoder.py)


def _session(path: Path, threads: int | None, role: str = "encoder") -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own classes for truncated, damaged or odd graphs
        first_line = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
        raise ValueError(f"{path} cannot be loaded by onnxruntime ({first_line}): re-export the model "
                         "with training/export_model.py") from None
    missing = GRAPH_INPUTS.get(role, set()) - {node.name for node in session.get_inputs()}
    if missing:
        raise ValueError(f"{path} is not the {role} graph the description names it as (it lacks the inputs "
                         f"{sorted(missing)}): the export folder is mixed up; re-export the model with "
                         "training/export_model.py")
    return session


def _inside(folder: Path, name: Any, key: str, config_path: Path, allow_missing: bool = False) -> Path:
    """`name` (a file name from the description) as a path inside `folder`; ValueError otherwise. An export
    is one folder: a description naming /etc/passwd or ../elsewhere is not one, and is not followed."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{config_path}: {key} must be a file name, got {name!r}")
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise ValueError(f"{config_path}: {key}={name!r} is outside the export's folder {folder}: exports name their "
                         "files beside the description; re-export the model")
    if not allow_missing and not path.is_file():
        raise ValueError(f"{config_path}: {key}={name!r} is missing from {folder}: re-export the model")
    return path


def check_description(config: Any, config_path: Path) -> None:
    """Types and bounds of an onnx_model.json (format already checked), before anything is built from it;
    ValueError naming the file and the first bad field."""
    if not isinstance(config, dict):
        raise ValueError(f"{config_path} must hold a JSON object")
    check_data_config(config.get("data_config"), config_path)
    mapping = config.get("mapping")
    if not isinstance(mapping, list) or not all(isinstance(token, str) for token in mapping):
        raise ValueError(f"{config_path}: mapping must be a list of strings")
    size = check_int(len(mapping), "the size of mapping", 1, MAX_MAPPING_SIZE, config_path)
    for key, low, high in (("num_layers", 1, MAX_LAYERS), ("heads", 1, MAX_HEADS), ("head_dim", 1, MAX_HEAD_DIM),
                           ("max_output_length", 2, MAX_OUTPUT_LENGTH), ("start_token", 0, size - 1),
                           ("end_token", 0, size - 1), ("padding_token", 0, size - 1)):
        check_int(config.get(key), key, low, high, config_path)
    if config.get("ctc_output") not in (None, "", CTC_OUTPUT):
        raise ValueError(f"{config_path}: ctc_output must be {CTC_OUTPUT!r} or absent, got {config['ctc_output']!r}")


def find_config(model_path: str | Path) -> Path:
    """onnx_model.json from itself, its folder, or the model.pt it was exported beside."""
    path = Path(model_path)
    candidates = [path] if path.suffix == ".json" else [path / CONFIG_FILENAME] if path.is_dir() else [path.parent / CONFIG_FILENAME]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"no exported ONNX model at {candidates[0]}: export it with "
        f"`python training/export_model.py --model_path {path}` (writes {ENCODER_FILENAME}, "
        f"{DECODER_STEP_FILENAME}, {DECODER_SEQUENCE_FILENAME} and {CONFIG_FILENAME} beside the "
        "model), or use backend='torch'"
    )


class OnnxTextModel:
    """Encoder and decoder-step sessions of an exported model, with greedy decoding in numpy."""

    def __init__(self, model_path: str | Path, threads: int | None = None) -> None:
        self.config_path = find_config(model_path)
        try:
            self.config: dict[str, Any] = json.loads(self.config_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{self.config_path} is not a readable export description ({error})") from None
        if not isinstance(self.config, dict) or self.config.get("format") != FORMAT_VERSION:
            found = self.config.get("format") if isinstance(self.config, dict) else None
            older = isinstance(found, int) and found < FORMAT_VERSION
            raise ValueError(
                f"{self.config_path} has format {found!r}, this version reads {FORMAT_VERSION}"
                + (" (its decoder graphs have no memory_mask, which reads each page alike in any batch)" if older else "")
                + f": re-export it with `make export` (python training/export_model.py --model_path "
                f"{self.config_path.parent / 'model.pt'})"
            )
        folder = self.config_path.parent
        source = _inside(folder, self.config.get("source") or "model.pt", "source", self.config_path, allow_missing=True)
        if source.is_file() and self.config.get("source_sha256") not in (None, compute_sha256(source)):
            raise ValueError(
                f"{self.config_path} was exported from another {source.name} than the one beside it now (a stale "
                f"export): re-export with `python training/export_model.py --model_path {source}`"
            )
        if "decoder_sequence" not in self.config:
            raise ValueError(f"{self.config_path} has no teacher-forced graph: re-export with "
                             f"`python training/export_model.py --model_path {source}`")
        check_description(self.config, self.config_path)
        graphs = {role: _inside(folder, self.config.get(role), role, self.config_path) for role in GRAPH_INPUTS}
        # onnxruntime's default threads (one per core) for the decoder step too: on an idle 2-core machine a
        # full 682-token decode at batch 1 took 243 ms on both cores against 321 ms on one (docs/measurements.md, "How fast").
        self.encoder = _session(graphs["encoder"], threads, "encoder")
        self.decoder_step = _session(graphs["decoder_step"], threads, "decoder_step")
        self.decoder_sequence = _session(graphs["decoder_sequence"], threads, "decoder_sequence")
        self.has_ctc_head = bool(self.config.get("ctc_output"))
        self.mapping: list[str] = self.config["mapping"]
        self.newline_token = self.mapping.index(NEW_LINE_TOKEN) if NEW_LINE_TOKEN in self.mapping else -1  # -1: none
        self.data_config: dict[str, Any] = self.config["data_config"]
        self.layers, self.heads, self.head_dim = self.config["num_layers"], self.config["heads"], self.config["head_dim"]
        self.cache_names = [f"cache_{kind}_{i}" for i in range(self.layers) for kind in ("key", "value")]
        self.memory_names = [f"memory_{kind}_{i}" for i in range(self.layers) for kind in ("key", "value")]

    def encode(self, image: np.ndarray) -> list[np.ndarray]:
        """(B, 1, H, W) float32, H and W multiples of 32 -> memory keys (B, h, dh, M) and values (B, h, M, dh) per layer."""
        return self.encode_with_ctc(image)[0]

    def encode_with_ctc(self, image: np.ndarray) -> tuple[list[np.ndarray], np.ndarray | None]:
        """`encode`'s memory, and the line CTC head's (B, frames, C) log-probabilities (None without a head)."""
        outputs = self.encoder.run(None, {"image": np.ascontiguousarray(image, dtype=np.float32)})
        return outputs[: 2 * self.layers], (outputs[-1] if self.has_ctc_head else None)

    def encode_each(
        self, x: np.ndarray, sizes: list[tuple[int, int]] | None = None
    ) -> tuple[list[np.ndarray], np.ndarray | None, np.ndarray | None]:
        """(B, 1, H, W) padded images -> `encode`'s memory, each image's cells first, the (B, M) float32 memory mask
        (0 for its own cells, -inf for the padding after them; None with no padding) and the CTC head's
        log-probabilities (None without a head). `sizes`: each image's own region (H_i, W_i) at the top left of x
        (paragraph_core.own_sizes); the encoder runs once per size, on images cropped to it (ResnetTransformer.
        encode_each). Without `sizes`, the padded batch is read whole."""
        groups = groups_of_equal_size(sizes) if sizes is not None else []
        if len(groups) <= 1:
            if groups:
                (height, width), _ = groups[0]
                x = x[:, :, :height, :width]
            memory, ctc = self.encode_with_ctc(x)
            return memory, None, ctc
        batch = x.shape[0]
        parts = [(rows, self.encode_with_ctc(x[rows, :, :height, :width])) for (height, width), rows in groups]
        length = max(memory[1].shape[2] for _, (memory, _) in parts)  # values (b, h, M_g, dh)
        memory = [np.zeros((batch, *shape), dtype=np.float32)
                  for shape in ((self.heads, self.head_dim, length), (self.heads, length, self.head_dim)) * self.layers]
        memory_mask = np.full((batch, length), -np.inf, dtype=np.float32)
        for rows, (group_memory, _) in parts:
            cells = group_memory[1].shape[2]
            for i, (whole, part) in enumerate(zip(memory, group_memory)):
                if i % 2 == 0:  # keys, transposed: (b, h, dh, M_g)
                    whole[rows, :, :, :cells] = part
                else:  # values: (b, h, M_g, dh)
                    whole[rows, :, :cells] = part
            memory_mask[rows, :cells] = 0.0
        ctc = None
        if self.has_ctc_head:
            ctc_parts = [(rows, log_probs) for rows, (_, log_probs) in parts if log_probs is not None]
            ctc = pad_ctc_frames(ctc_parts, batch, self._blank())
        return memory, memory_mask, ctc

    def _blank(self) -> int:
        blank = Vocabulary(self.mapping).blank
        assert blank is not None, "a CTC head's mapping has the blank <B>"
        return blank

    def start(
        self, memory: list[np.ndarray], max_length: int, capacity: int = FIRST_CACHE_SLOTS, memory_mask: np.ndarray | None = None
    ) -> DecoderCache:
        """The state of a decode of up to max_length tokens (<S> included) over this memory, its cache first
        `capacity` slots long; `memory_mask` (B, M): 0 where a cell may be attended to, -inf where not (None: all may)."""
        if max_length > self.config["max_output_length"]:
            raise ValueError(f"max_length {max_length} is more than the {self.config['max_output_length']} positions the "
                             "decoder was trained for")
        return DecoderCache(self, memory, max_length, capacity, memory_mask)

    def predict(
        self, x: np.ndarray, max_length: int | None = None, guard_lines: bool = True, sizes: list[tuple[int, int]] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(B, 1, H, W) images -> (B, max_length) tokens (<S> first, <P> after <E>) and (B,) log-probabilities.

        guard_lines: no line grows longer than the image's ink can hold (line_guard.py), as in the torch backend.
        `sizes`: as `encode_each`'s."""
        limits = line_length_limits(x, min_char_width(self.data_config)) if guard_lines else None
        memory, memory_mask, _ = self.encode_each(x, sizes)
        return self.decode(memory, max_length, line_limits=limits, memory_mask=memory_mask)

    def line_ctc_log_probs(self, x: np.ndarray) -> np.ndarray:
        """(B, 1, H, W) line images -> (B, frames, C) log-probabilities of the line CTC head."""
        log_probs = self.encode_with_ctc(x)[1]
        assert log_probs is not None, "this export has no line CTC head"
        return log_probs

    def predict_ctc(
        self, x: np.ndarray, max_length: int | None = None, sizes: list[tuple[int, int]] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """ResnetTransformer.predict_ctc: lines read by the CTC head's best path, laid out as `predict`'s."""
        log_probs = self.encode_each(x, sizes)[2]
        assert log_probs is not None, "this export has no line CTC head"
        return self._ctc_best_path(log_probs, max_length or self.config["max_output_length"])

    def _ctc_best_path(self, log_probs: np.ndarray, max_length: int) -> tuple[np.ndarray, np.ndarray]:
        return Vocabulary(self.mapping).ctc_best_path(log_probs.argmax(axis=-1), log_probs.max(axis=-1), max_length)

    def predict_joint(
        self, x: np.ndarray, max_length: int | None = None, guard_lines: bool = True, ctc_weight: float = JOINT_CTC_WEIGHT,
        sizes: list[tuple[int, int]] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """ResnetTransformer.predict_joint: of the CTC best path and the attention decoder's greedy text, the
        one both models together find likelier (joint_decoding.py)."""
        max_length = max_length or self.config["max_output_length"]
        memory, memory_mask, log_probs = self.encode_each(x, sizes)  # one ResNet pass for both
        assert log_probs is not None, "this export has no line CTC head"
        limits = line_length_limits(x, min_char_width(self.data_config)) if guard_lines else None
        attention_tokens, _ = self.decode(memory, max_length, line_limits=limits, memory_mask=memory_mask)
        vocabulary = Vocabulary(self.mapping)
        ctc_tokens, _ = self._ctc_best_path(log_probs, max_length)
        candidates = [ctc_tokens, attention_tokens]
        assert vocabulary.blank is not None
        # Both candidates scored by the decoder in one pass of twice the batch.
        both_masks = None if memory_mask is None else np.concatenate([memory_mask, memory_mask])
        attention_scores = np.split(self.sequence_log_likelihood([np.concatenate([m, m]) for m in memory],
                                                                 np.concatenate(candidates), both_masks), 2)
        return joint_choice(
            candidates,
            [ctc_log_likelihoods(log_probs, vocabulary.texts(candidate), vocabulary.blank) for candidate in candidates],
            attention_scores,
            ctc_weight,
        )

    def sequence_log_likelihood(
        self, memory: list[np.ndarray], tokens: np.ndarray, memory_mask: np.ndarray | None = None
    ) -> np.ndarray:
        """(B, L) texts laid out as `decode` writes them -> (B,) each one's log-probability, <E> included:
        one teacher-forced pass (TransformerTextDecoder.sequence_log_likelihood); `memory_mask` as `start`'s."""
        padding = self.config["padding_token"]
        written = int((tokens != padding).sum(axis=1).max())  # <S>, the text, <E>: the rest is padding
        if written < 2:
            return np.zeros(tokens.shape[0], dtype=np.float64)
        inputs, targets = tokens[:, : written - 1], tokens[:, 1:written]
        feeds = {"tokens": np.ascontiguousarray(inputs, dtype=np.int64), "memory_mask": _memory_mask(memory, memory_mask),
                 **dict(zip(self.memory_names, memory))}
        log_probs = self.decoder_sequence.run(None, feeds)[0]  # (B, T, C)
        chosen = np.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0].astype(np.float64)
        return np.where(targets == padding, 0.0, chosen).sum(axis=1)

    def decode(
        self, memory: list[np.ndarray], max_length: int | None = None, min_length: int = 0, line_limits: np.ndarray | None = None,
        memory_mask: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Greedy decoding, the rule of decoding._greedy_choice; `min_length` forbids stopping before it
        (benchmarks), `line_limits` (B,) ends a text whose line would outgrow its limit (decoding._LineGuard),
        `memory_mask` as `start`'s."""
        max_length = max_length or self.config["max_output_length"]
        if max_length < 2:
            raise ValueError(f"max_length must leave room for <S> and one token, got {max_length}")
        start, end, padding = self.config["start_token"], self.config["end_token"], self.config["padding_token"]
        batch = memory[0].shape[0]
        tokens = np.full((batch, max_length), padding, dtype=np.int64)
        tokens[:, 0] = start
        log_probs = np.zeros(batch, dtype=np.float32)
        finished = np.zeros(batch, dtype=bool)
        cache = self.start(memory, max_length, memory_mask=memory_mask)
        rows = np.arange(batch)
        line_lengths = np.zeros(batch, dtype=np.int64)
        for t in range(max_length - 1):
            logits = cache.step(tokens[:, t])
            if t + 1 < min_length - 1:
                logits[:, [end, padding]] = -np.inf
            if line_limits is not None:
                full = line_lengths >= line_limits
                logits[full] = -np.inf
                logits[full, end] = 0.0
            token = logits.argmax(axis=-1)
            shifted = logits - logits.max(axis=-1, keepdims=True)
            step_log_probs = shifted[rows, token] - np.log(np.exp(shifted).sum(axis=-1))  # log_softmax at the choice
            log_probs += np.where(finished, np.float32(0), step_log_probs)
            token[finished] = padding
            tokens[:, t + 1] = token
            finished |= (token == end) | (token == padding)
            line_break = token == self.newline_token
            line_lengths = np.where(line_break, 0, line_lengths + ((token != end) & (token != padding) & ~line_break))
            if finished.all():
                break
        return tokens, log_probs


class DecoderCache:
    """The keys and values of the tokens decoded so far, in slots the step graph reads in place: keys
    (B, h, dh, capacity) and values (B, h, capacity, dh) per layer, and a mask over the unfilled slots.
    A step's graph returns the newest token's own key and value, written here into its slot."""

    def __init__(
        self, model: OnnxTextModel, memory: list[np.ndarray], max_length: int, capacity: int, memory_mask: np.ndarray | None = None
    ) -> None:
        self.model, self.max_length = model, max_length
        self.batch, self.length = memory[0].shape[0], 0
        self.feeds: dict[str, np.ndarray] = dict(zip(model.memory_names, memory))
        self.feeds["memory_mask"] = _memory_mask(memory, memory_mask)
        for name in model.cache_names:  # no slots yet: keys (B, h, dh, 0), values (B, h, 0, dh)
            shape = [self.batch, model.heads, model.head_dim, model.head_dim]
            shape[self._slot_axis(name)] = 0
            self.feeds[name] = np.zeros(shape, dtype=np.float32)
        self.feeds["cache_mask"] = np.zeros(0, dtype=np.float32)
        self.capacity = 0
        self._grow(max(1, min(capacity, max_length)))

    @staticmethod
    def _slot_axis(name: str) -> int:
        return 3 if name.startswith("cache_key") else 2  # keys are kept transposed

    def _grow(self, capacity: int) -> None:
        """Room for `capacity` tokens, the filled slots kept (zeros after them, masked out)."""
        more = capacity - self.capacity
        for name in self.model.cache_names:
            widths = [(0, 0)] * 4
            widths[self._slot_axis(name)] = (0, more)
            self.feeds[name] = np.pad(self.feeds[name], widths)
        self.feeds["cache_mask"] = np.pad(self.feeds["cache_mask"], (0, more), constant_values=-np.inf)
        self.capacity = capacity

    def step(self, token: np.ndarray) -> np.ndarray:
        """(B,) tokens at the next position -> (B, C) logits for the one after; the cache grows by one."""
        t = self.length
        if t >= self.max_length:
            raise ValueError(f"the decode was started for {self.max_length} tokens")
        if t == self.capacity:
            self._grow(min(2 * self.capacity, self.max_length))
        self.feeds["token"] = token.astype(np.int64)
        self.feeds["position"] = np.array([t], dtype=np.int64)
        logits, *news = self.model.decoder_step.run(None, self.feeds)
        for i in range(self.model.layers):
            self.feeds[f"cache_key_{i}"][..., t : t + 1] = news[2 * i]  # (B, h, dh, 1)
            self.feeds[f"cache_value_{i}"][:, :, t : t + 1] = news[2 * i + 1]  # (B, h, 1, dh)
        self.feeds["cache_mask"][t] = 0
        self.length = t + 1
        return logits


def _memory_mask(memory: list[np.ndarray], memory_mask: np.ndarray | None) -> np.ndarray:
    """The decoder graphs' (B, M) float32 memory_mask: the given one, or zeros (every cell attended to)."""
    if memory_mask is not None:
        return np.ascontiguousarray(memory_mask, dtype=np.float32)
    values = memory[1]  # (B, h, M, dh)
    return np.zeros((values.shape[0], values.shape[2]), dtype=np.float32)


def default_threads() -> int:
    """onnxruntime's default intra-op thread count: one per core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
