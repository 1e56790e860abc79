"""Training: configs (:mod:`.config`), the loop (:mod:`.loop`), resume state (:mod:`.state`) and
the command line (:mod:`.cli`). Checkpoint files themselves are :mod:`lic.checkpoints`."""
from .config import SCHEDULES, TrainConfig, TrainSettings, load_config
from .loop import evaluate_model, learning_rate, train

__all__ = ["SCHEDULES", "TrainConfig", "TrainSettings", "load_config", "evaluate_model", "learning_rate", "train"]
