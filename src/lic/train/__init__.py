"""Training: configs (:mod:`.config`), the loop (:mod:`.loop`), resume state (:mod:`.state`) and
the command line (:mod:`.cli`). Checkpoint files themselves are :mod:`lic.checkpoints`."""
from .config import SCHEDULES, DeviceSettings, TrainConfig, TrainSettings, default_device, load_config
from .loop import evaluate_model, learning_rate, train

__all__ = ["SCHEDULES", "DeviceSettings", "TrainConfig", "TrainSettings", "default_device", "load_config",
           "evaluate_model", "learning_rate", "train"]
