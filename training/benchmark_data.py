"""Can the data keep up with the model? Samples/s of the paragraph training loader vs a training step.

    python training/benchmark_data.py --iam_source=rendered [--num_workers_list=0,2] [--batch_size=8]

Times the IAMOriginalAndSyntheticParagraphs training loader (augmentation on, as in training) for each
number of workers, and a ResnetTransformer training step (forward, backward, Adam step, teacher
forced on labels as long as the loader's batches' longest, which is what training cuts a batch to) at the same
batch size on this machine, then prints a table:
loader samples/s divided by model samples/s above 1 means the loader keeps up.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2

from text_recognizer.data.iam_original_and_synthetic_paragraphs import (
    IAMOriginalAndSyntheticParagraphs,
)
from text_recognizer.metadata.shared import PADDING_TOKEN
from text_recognizer.models.resnet_transformer import ResnetTransformer
from text_recognizer.stems.paragraph import ELASTIC_SIGMA, ElasticDistortion
from text_recognizer.vocabulary import trim_padding

BATCH_SIZE = 8
NUM_WORKERS_LIST = "0,2"
LOADER_BATCHES = 12  # timed batches per loader, after one untimed batch (worker start-up, first reads)
MODEL_STEPS = 3  # timed training steps, after one untimed warm-up step
ELASTIC_CALLS = 5


def time_elastic(size: tuple[int, int], displacement: float, calls: int = ELASTIC_CALLS) -> tuple[float, float]:
    """ms per image of the stem's ElasticDistortion and of torchvision's ElasticTransform (the same
    displacement and smoothness: its full-size noise blurred by an 8 sigma + 1 kernel), on an image of `size`."""
    rng = np.random.default_rng(0)
    image = Image.fromarray(((rng.random(size) > 0.9) * 255).astype(np.uint8))
    # torchvision blurs uniform noise (std 1/sqrt(3)) to std 1 / (sqrt(3) 2 sqrt(pi) sigma), times alpha / 2 px.
    reference = v2.ElasticTransform(alpha=displacement * 2 * 2 * math.sqrt(math.pi) * ELASTIC_SIGMA * math.sqrt(3),
                                    sigma=ELASTIC_SIGMA, fill=0)
    timings = []
    for transform in (ElasticDistortion(displacement), reference):
        transform(image)
        start = time.perf_counter()
        for _ in range(calls):
            transform(image)
        timings.append((time.perf_counter() - start) / calls * 1000)
    return timings[0], timings[1]


def time_loader(
    data: IAMOriginalAndSyntheticParagraphs, num_workers: int, batches: int
) -> tuple[float, float, float | None, int, tuple[int, int]]:
    """(seconds to the first batch, samples/s over the next `batches` batches, CPU ms per sample when the
    main process does all the work, the batches' mean longest label in tokens, their mean padded image
    height and width) of a fresh training loader (batches are padded to their own largest image)."""
    data.num_workers = num_workers
    start = time.perf_counter()
    iterator = iter(data.train_dataloader())
    next(iterator)
    first = time.perf_counter() - start
    padding = data.mapping.index(PADDING_TOKEN)
    start, cpu_start, samples, longest, sizes = time.perf_counter(), time.process_time(), 0, [], []
    for _ in range(batches):
        x, y = next(iterator)
        samples += len(x)
        longest.append(trim_padding(y, padding).shape[1])  # what training cuts the batch to
        sizes.append(x.shape[2:])
    rate = samples / (time.perf_counter() - start)
    cpu_ms = (time.process_time() - cpu_start) / samples * 1000 if num_workers == 0 else None
    del iterator  # stops the workers
    size = tuple(round(sum(size[i] for size in sizes) / len(sizes) / 32) * 32 for i in (0, 1))
    return first, rate, cpu_ms, round(sum(longest) / len(longest)), (size[0], size[1])


def time_model(
    data_config: dict, batch_size: int, length: int, size: tuple[int, int], steps: int, device: torch.device
) -> tuple[float, float]:
    """(samples/s, CPU ms per sample) of training a default-sized ResnetTransformer (fwd + bwd + Adam step)
    on images of `size` (H, W) and labels of `length` tokens."""
    model = ResnetTransformer(data_config).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    height, width = size
    classes = len(data_config["mapping"])
    padding = data_config["mapping"].index(PADDING_TOKEN)
    x = torch.rand(batch_size, 1, height, width, device=device)
    y = torch.randint(4, classes, (batch_size, length), device=device)  # no <P>: every target position counts

    def step() -> None:
        logits = model(x, y[:, :-1])  # (B, C, length - 1) teacher forced
        loss = torch.nn.functional.cross_entropy(logits, y[:, 1:], ignore_index=padding)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up: allocations, cuDNN autotuning
    if device.type == "cuda":
        torch.cuda.synchronize()
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    samples = batch_size * steps
    return samples / (time.perf_counter() - start), (time.process_time() - cpu_start) / samples * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    IAMOriginalAndSyntheticParagraphs.add_to_argparse(parser)
    parser.set_defaults(batch_size=BATCH_SIZE)
    parser.add_argument("--num_workers_list", type=str, default=NUM_WORKERS_LIST, help="loader workers to time, e.g. 0,2,8")
    parser.add_argument("--loader_batches", type=int, default=LOADER_BATCHES, help="timed batches per loader")
    parser.add_argument("--model_steps", type=int, default=MODEL_STEPS, help="timed training steps (0: skip the model)")
    parser.add_argument("--device", type=str, default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    args.augment_data = True  # training loader as in training

    data = IAMOriginalAndSyntheticParagraphs(args)
    data.prepare_data()
    data.setup()
    print(f"{data.original.iam.cache_name}: {len(data.data_train)} training paragraphs, batch size {args.batch_size}, "
          f"torch threads {torch.get_num_threads()}, device {args.device}")

    rows = []  # (name, samples/s, CPU ms per sample or None, is the model)
    for num_workers in (int(n) for n in args.num_workers_list.split(",")):
        first, rate, cpu_ms, length, size = time_loader(data, num_workers, args.loader_batches)
        rows.append((f"train loader, num_workers={num_workers} (first batch {first:.1f} s)", rate, cpu_ms, False))
    model_rate = None
    if args.model_steps > 0:
        device = torch.device(args.device)
        model_rate, cpu_ms = time_model(data.config(), args.batch_size, length, size, args.model_steps, device)
        name = (f"ResnetTransformer training step ({args.device}, batch {args.batch_size} of {size[0]}x{size[1]}, "
                f"labels cut to {length} tokens)")
        rows.append((name, model_rate, cpu_ms if args.device == "cpu" else None, True))

    if args.elastic_displacement:
        ours, reference = time_elastic(size, args.elastic_displacement)
        print(f"\nelastic distortion of a {size[0]}x{size[1]} image (--elastic_displacement={args.elastic_displacement:g}): "
              f"{ours:.1f} ms, torchvision's ElasticTransform {reference:.1f} ms ({reference / ours:.0f}x)")

    # Wall-clock rates depend on what else runs on the machine; CPU ms per sample much less so.
    width = max(len(row[0]) for row in rows)
    print(f"\n{'':{width}}  samples/s  loader/model  CPU ms/sample")
    for name, rate, cpu_ms, is_model in rows:
        ratio = f"{rate / model_rate:11.1f}x" if model_rate and not is_model else " " * 12
        cpu = f"{cpu_ms:13.1f}" if cpu_ms is not None else f"{'-':>13}"
        print(f"{name:{width}}  {rate:9.1f}  {ratio}  {cpu}")


if __name__ == "__main__":
    main()
