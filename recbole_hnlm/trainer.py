"""Trainers: RecBole's own loop, with checkpoints read through :mod:`recbole_hnlm.checkpoint`."""
from recbole_hnlm.checkpoint import CHECKPOINT_FIELDS, RESUME_FIELDS, SPLIT_KEYS, check_split, load_checkpoint

_shimmed = {}


class CheckpointShimMixin:
    """Reads checkpoints with the plugin's allow-list loader (RecBole's methods unpickle them in full)."""

    def _load_checkpoint(self, path, fields=CHECKPOINT_FIELDS):
        return load_checkpoint(path, self.device, trust=bool(self.config["trust_checkpoint"]), fields=fields)

    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        if eval_data and load_best_model:
            path = model_file or self.saved_model_file
            checkpoint = self._load_checkpoint(path)
            self.model.load_state_dict(checkpoint["state_dict"])
            self.model.load_other_parameter(checkpoint.get("other_parameter"))
            self.logger.info(f"Loading model structure and parameters from {path}")
        return super().evaluate(eval_data, load_best_model=False, show_progress=show_progress)

    def resume_checkpoint(self, resume_file):
        path = str(resume_file)
        checkpoint = self._load_checkpoint(path, RESUME_FIELDS)
        check_split(path, checkpoint["config"], self.config, ("model",) + SPLIT_KEYS)
        self.model.load_state_dict(checkpoint["state_dict"])
        self.model.load_other_parameter(checkpoint.get("other_parameter"))
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.saved_model_file = path  # RecBole's rule: a resumed run keeps saving into the file it resumed
        self.start_epoch = checkpoint["epoch"] + 1
        self.cur_step = checkpoint["cur_step"]
        self.best_valid_score = checkpoint["best_valid_score"]
        self.logger.info(f"Checkpoint {path} loaded. Resume training from epoch {self.start_epoch}")


def with_checkpoint_shim(trainer_class):
    """``trainer_class`` with :class:`CheckpointShimMixin` in front (one subclass per class)."""
    if issubclass(trainer_class, CheckpointShimMixin):
        return trainer_class
    if trainer_class not in _shimmed:
        _shimmed[trainer_class] = type(trainer_class.__name__, (CheckpointShimMixin, trainer_class), {})
    return _shimmed[trainer_class]
