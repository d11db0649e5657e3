"""Pick the best run of a data class and write its model into text_recognizer/artifacts/ (installed from a
wheel, not in a clone: into the user's artifacts folder, run_files.default_artifacts_dir()).

    python training/save_best_model.py --entity=E --project=P --trained_data_class=IAMOriginalAndSyntheticParagraphs
    python training/save_best_model.py --local --trained_data_class=IAMParagraphs --metric=val_cer

From W&B (the default) it searches the project's runs through the W&B API; with `--local` it
searches the folders run_experiment writes (training/logs/csv/version_*/: config.json,
metrics.csv, checkpoints/), which every run has, online, offline or without W&B. It writes
<artifacts_dir>/<line|paragraph>_text_recognizer/{config.json, model.pt, run_command.txt},
replacing the old folder only once the new one is complete.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from text_recognizer.metadata.shared import PROJECT_DIRNAME
from text_recognizer.model_file import read_checkpoint, save_model_file
from text_recognizer.run_files import (
    ARTIFACTS_DIR,
    CONFIG_FILE,
    CSV_LOGGER_NAME,
    DEFAULT_LOG_DIR,
    METRICS_FILE,
    MODEL_CARD_FILE,
    MODEL_FILE,
    RUN_COMMAND_FILE,
    best_checkpoint,
    default_artifacts_dir,
    recognizer_dirname,
    run_dir_of,
)
from text_recognizer.util import atomic_path

METRIC = "val_loss"
MODE = "min"


class SelectionError(RuntimeError):
    """No run, metric or checkpoint to select; the existing artifacts are left as they were."""


@dataclass
class RunChoice:
    name: str
    value: float
    config: dict[str, Any]
    run_command: str
    checkpoint: Path


def plain_config(config: dict[str, Any]) -> dict[str, Any]:
    """Hyper-parameters as real JSON types: no W&B internals, and the string "None" back to null."""
    def fix(value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"value"}:  # W&B API's {"value": x} wrapping
            return fix(value["value"])
        return None if value == "None" else value

    return {key: fix(value) for key, value in sorted(config.items()) if not key.startswith("_")}


def _better(value: float, best: float | None, mode: str) -> bool:
    return best is None or (value < best if mode == "min" else value > best)


def _number(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):  # a damaged row: not a figure to rank by
        return math.nan


def best_metric(rows: list[dict[str, Any]], metric: str, mode: str) -> float | None:
    values = [_number(row[metric]) for row in rows if row.get(metric) not in (None, "")]
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return None
    return min(values) if mode == "min" else max(values)


def read_run_configs(log_dir: Path) -> dict[Path, dict[str, Any]]:
    """config.json of every run folder under log_dir; an unreadable one is skipped with a warning naming it."""
    configs = {}
    for path in sorted(Path(log_dir).glob(f"**/{CONFIG_FILE}")):
        try:
            config = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            print(f"warning: skipping the run in {path.parent}: {path} is not readable JSON ({error})", file=sys.stderr)
            continue
        if not isinstance(config, dict):
            print(f"warning: skipping the run in {path.parent}: {path} holds no settings object", file=sys.stderr)
            continue
        configs[path.parent] = config
    return configs


def _stages_of_model_file(source: str, command: str) -> tuple[list[tuple[str, str]], str] | None:
    """A stage that started from a model file (a model.pt of save_best_model, not a run folder): the
    stages that made that model, from the run_command.txt beside it (read now, before the artifacts are
    replaced: after, the file would name the new weights), and `command` starting from the last of them.
    That stage is given a --log_dir of its own, so that pasted into a fresh clone it trains into a run
    folder the next command can name. None when no run_command.txt says how the file was made."""
    path = Path(source)
    if not path.is_absolute() and not path.exists():
        path = PROJECT_DIRNAME / path  # commands name the project's files relative to its root
    commands_file = path.parent / RUN_COMMAND_FILE
    if not commands_file.is_file():
        return None
    earlier = [line.strip() for line in commands_file.read_text().splitlines() if line.strip() and not line.startswith("#")]
    if not earlier:
        return None
    stage_log_dir = f"training/logs/stage{len(earlier)}"
    run_folder = f"{stage_log_dir}/{CSV_LOGGER_NAME}/version_0"  # the first run under a fresh log dir
    last = re.sub(r"\s--log_dir[= ]\S+", "", earlier[-1]) + f" --log_dir={stage_log_dir}"
    stages = [(f"an earlier run, says {commands_file.name} beside {source}", line) for line in earlier[:-1]]
    return [*stages, (run_folder, last)], command.replace(str(source), run_folder)


def run_commands(run_dir: Path) -> str:
    """The commands that reproduce a run. A run that started from another local run's checkpoint
    (--load_checkpoint) is a later stage: the earlier stages' commands come first, one per line, each
    later one naming its predecessor by run folder (which --load_checkpoint takes), so that the text
    can be pasted into a shell. A stage that started from a model file takes the stages that made it
    from the run_command.txt beside it (`_stages_of_model_file`)."""
    stages: list[tuple[Path | str, str]] = []
    run: Path | None = Path(run_dir)
    while run is not None and run.resolve() not in {seen.resolve() for seen, _ in stages if isinstance(seen, Path)}:  # a cycle ends it
        command_file = run / RUN_COMMAND_FILE
        command = command_file.read_text().strip() if command_file.is_file() else ""
        try:
            source = json.loads((run / CONFIG_FILE).read_text()).get("load_checkpoint")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):  # AttributeError: not an object
            source = None
        if source is not None and not isinstance(source, str):
            print(f"warning: {run / CONFIG_FILE}: load_checkpoint is {source!r:.60}, not a path; the stages before "
                  "that run are not named in run_command.txt", file=sys.stderr)
            source = None
        parent = run_dir_of(source) if source else None
        if parent is not None:  # name the predecessor by its folder, not by its best epoch's file name
            command = command.replace(str(source), str(parent))
        elif source and (from_file := _stages_of_model_file(str(source), command)) is not None:
            earlier, command = from_file
            stages[:0] = [*earlier, (run, command)]
            break
        stages.insert(0, (run, command))
        run = parent
    if len(stages) == 1:
        return stages[0][1]
    lines = []
    for number, (where, command) in enumerate(stages, 1):
        origin = "" if number == 1 else f", from stage {number - 1}'s best checkpoint"
        lines += [f"# stage {number} of {len(stages)}{origin} (trained in {where})", command]
    return "\n".join(lines)


def find_best_local_run(log_dir: Path, data_class: str, metric: str, mode: str) -> RunChoice:
    configs = read_run_configs(log_dir)
    matching = [d for d, config in configs.items() if config.get("data_class") == data_class]
    if not matching:
        raise SelectionError(f"no local run of {data_class} under {log_dir} (looked for */{CONFIG_FILE})")
    best: RunChoice | None = None
    seen_metrics: set[str] = set()
    for run_dir in matching:
        metrics_file = run_dir / METRICS_FILE
        try:
            with open(metrics_file, newline="", encoding="utf-8") as file:
                rows = list(csv.DictReader(file))
        except FileNotFoundError:
            rows = []
        except (OSError, UnicodeDecodeError, csv.Error) as error:  # binary, damaged: that run cannot be ranked
            print(f"warning: skipping the run in {run_dir}: {metrics_file} is not a readable CSV ({error})", file=sys.stderr)
            continue
        seen_metrics.update(k for row in rows for k, v in row.items() if k and v)
        value = best_metric(rows, metric, mode)
        checkpoint = best_checkpoint(run_dir)  # the best epoch's, not last.ckpt (kept for resuming)
        if value is None or checkpoint is None or not _better(value, best.value if best else None, mode):
            continue
        best = RunChoice(
            name=str(run_dir),
            value=value,
            config=configs[run_dir],
            run_command=run_commands(run_dir),
            checkpoint=checkpoint,
        )
    if best is None:
        finite = "" if metric not in seen_metrics else f" (every {metric} logged is NaN, infinite or not a number)"
        raise SelectionError(
            f"none of the {len(matching)} local runs of {data_class} has both a checkpoint and a logged {metric} of finite value{finite} "
            f"(metrics seen: {sorted(seen_metrics - {'epoch', 'step'})})"
        )
    return best


def find_best_wandb_run(api: Any, entity: str, project: str, data_class: str, metric: str, mode: str, download_dir: Path) -> RunChoice:
    """The best run through the W&B API (`api` is a wandb.Api or a stand-in with the same methods)."""
    runs = list(api.runs(f"{entity}/{project}", filters={"config.data_class": data_class}))
    if not runs:
        raise SelectionError(f"no W&B run of {data_class} in {entity}/{project}")
    scored = []
    for run in runs:
        value = best_metric(list(run.history(keys=[metric], pandas=False)), metric, mode)
        if value is not None:
            scored.append((value, run))
    if not scored:
        raise SelectionError(f"no run of {data_class} in {entity}/{project} logged {metric}")
    scored.sort(key=lambda pair: pair[0], reverse=mode == "max")
    for value, run in scored:
        artifacts = [a for a in run.logged_artifacts() if a.type == "model"]
        artifacts.sort(key=lambda a: "best" not in a.aliases)  # the checkpoint callback's best first
        if not artifacts:
            print(f"run {run.name} ({metric}={value:.4g}) has no model artifact; trying the next best")
            continue
        folder = Path(artifacts[0].download(root=str(download_dir / run.id)))
        checkpoints = sorted(folder.glob("*.ckpt"))
        if not checkpoints:
            raise SelectionError(f"the model artifact of run {run.name} holds no .ckpt file")
        metadata = getattr(run, "metadata", None) or {}
        program = metadata.get("program", "training/run_experiment.py")
        command = " ".join(["python", program, *metadata.get("args", [])])
        return RunChoice(run.name, value, dict(run.config), command, checkpoints[0])
    raise SelectionError(f"no run of {data_class} in {entity}/{project} has a saved checkpoint (run with --wandb)")


def reads_text(model_class: Any) -> bool:
    """Whether a model class is one the text recognizer can read with (an image-to-text transformer)."""
    import text_recognizer.models as models
    from text_recognizer.models.image_to_text_transformer import ImageToTextTransformer

    found = getattr(models, model_class, None) if isinstance(model_class, str) and model_class in models.__all__ else None
    return isinstance(found, type) and issubclass(found, ImageToTextTransformer)


CARD_TODO = "TODO"  # marks what only a measurement can fill in; a card with it is not ready to ship
LICENCES_HEADING = "## Licences"


def model_card(choice: RunChoice, data_class: str, metric: str, previous: str | None = None) -> str:
    """A skeleton model card for a model just selected: what its run says (data, model, selection) and
    TODO where only a measurement can (figures, limits, intended use). The card of the model it replaces
    describes that model, so only its licences section (not about the weights' quality) is kept."""
    config = choice.config
    data = f"data class `{data_class}`"
    if config.get("iam_source"):
        data += f", `--iam_source={config['iam_source']}`"
        if config["iam_source"] == "rendered":
            data += f" (rendered fonts, no real handwriting; font set `{config.get('iam_rendered_fonts', 'all')}`)"
    if config.get("load_checkpoint"):
        data += f"; it started from `{config['load_checkpoint']}`"
    licences = f"{LICENCES_HEADING}\n\n{CARD_TODO}: the code is MIT (LICENSE); say the weights' licence and the fonts' licences.\n"
    if previous and LICENCES_HEADING in previous:
        licences = LICENCES_HEADING + previous.split(LICENCES_HEADING, 1)[1].split("\n## ", 1)[0].rstrip() + "\n"
    return f"""# Model card: {config.get('model_class', 'model')} from run {choice.name}

Written by save_best_model; the {CARD_TODO} markers are for whoever ships it. `config.json` beside it holds
the run's flags, `{RUN_COMMAND_FILE}` the commands that trained it.

## Training data

{data}.

## How well it reads

Selected by {metric} = {choice.value:.4g} (the run's best checkpoint, `{choice.checkpoint.name}`).
{CARD_TODO}: CER on the unseen-family test writers, clean and photographed (training/evaluate_model.py
--iam_source=rendered --splits=test_train_family,val,test_unseen_family --limit=0, and --photos).

## What it is not good at

{CARD_TODO}: real scans, photos, the weakest families.

## Intended use

{CARD_TODO}

{licences}"""


def write_artifacts(choice: RunChoice, artifacts_dir: Path, data_class: str, half: bool = True,
                    metric: str = METRIC) -> Path:
    """Write config.json, model.pt, run_command.txt and a skeleton MODEL_CARD.md to a temporary folder,
    then swap it in. The project's own artifacts folder is the text recognizer's: only a model that reads
    text goes there."""
    final = Path(artifacts_dir) / recognizer_dirname(data_class)
    content = read_checkpoint(choice.checkpoint)  # before touching anything: fails on a bad checkpoint
    recognizers = {Path(ARTIFACTS_DIR).resolve(), default_artifacts_dir().resolve()}  # the folders reading loads from
    if Path(artifacts_dir).resolve() in recognizers and not reads_text(content["model_class"]):
        # A FakeImageData run once replaced the shipped paragraph recognizer with a CNN, which it then refused.
        raise SelectionError(f"run {choice.name} trained a {content['model_class']}, which cannot read text: {final} "
                             "is the text recognizer's model (ResnetTransformer, LineCNNTransformer); pass "
                             "--artifacts_dir to write it elsewhere")
    with atomic_path(final, is_dir=True) as staging:
        (staging / CONFIG_FILE).write_text(json.dumps(plain_config(choice.config), indent=2) + "\n")
        (staging / RUN_COMMAND_FILE).write_text(choice.run_command + "\n")
        previous = final / MODEL_CARD_FILE
        card = model_card(choice, data_class, metric, previous.read_text() if previous.is_file() else None)
        (staging / MODEL_CARD_FILE).write_text(card)
        save_model_file(content, staging / MODEL_FILE, half=half)
    return final


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--entity", type=str, default=None, help="W&B entity (user or team)")
    parser.add_argument("--project", type=str, default=None, help="W&B project")
    parser.add_argument("--trained_data_class", type=str, required=True, help="data class the runs trained on")
    parser.add_argument("--metric", type=str, default=METRIC, help="metric to rank runs by, e.g. val_loss or val_cer")
    parser.add_argument("--mode", type=str, default=MODE, choices=("min", "max"), help="whether lower or higher is better")
    parser.add_argument("--local", nargs="?", const=str(DEFAULT_LOG_DIR), default=None, metavar="LOG_DIR",
                        help=f"select among local runs instead of W&B (LOG_DIR defaults to {DEFAULT_LOG_DIR})")
    parser.add_argument("--artifacts_dir", type=str, default=str(default_artifacts_dir()),
                        help="where to write the model folder (reading loads a paragraph model from the default one)")
    parser.add_argument("--full_precision", action="store_true", help="keep float32 weights instead of half precision")
    return parser


def select_run(args: argparse.Namespace, api: Any, download_dir: Path) -> RunChoice:
    if args.local is not None:
        return find_best_local_run(Path(args.local), args.trained_data_class, args.metric, args.mode)
    if not (args.entity and args.project):
        raise SelectionError("--entity and --project are needed to search W&B (or use --local)")
    if api is None:
        try:
            import wandb

            api = wandb.Api()
        except Exception as error:
            raise SelectionError(f"the W&B API is unavailable ({error}); run `wandb login`, or use --local") from error
    return find_best_wandb_run(api, args.entity, args.project, args.trained_data_class, args.metric, args.mode, download_dir)


def main(argv: list[str] | None = None, api: Any = None, prog: str | None = None) -> int:
    """`api` replaces wandb.Api() (tests pass a stand-in, since no W&B server runs here); `prog` names the
    command in the usage line (default: the script's name)."""
    args = build_parser(prog).parse_args(argv)
    try:
        with tempfile.TemporaryDirectory() as download_dir:
            choice = select_run(args, api, Path(download_dir))
            folder = write_artifacts(choice, Path(args.artifacts_dir), args.trained_data_class, half=not args.full_precision,
                                     metric=args.metric)
    except (SelectionError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}; the artifacts were left unchanged", file=sys.stderr)
        return 1
    print(f"best run: {choice.name} ({args.metric}={choice.value:.4g}), checkpoint {choice.checkpoint.name}")
    print(f"wrote {folder}/config.json, model.pt ({(folder / MODEL_FILE).stat().st_size / 1e6:.1f} MB), run_command.txt, "
          f"{MODEL_CARD_FILE} (a skeleton: fill in its {CARD_TODO} markers before shipping)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
