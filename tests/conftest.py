"""Shared test settings: no network, no W&B account, small thread counts."""
import os
import sys
from pathlib import Path

# Before anything imports wandb: tests log nowhere (a test that needs W&B files sets offline itself).
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `training` is a folder of scripts, importable from the repo root
