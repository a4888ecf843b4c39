"""Trainers: RecBole's own loop, with checkpoints that load on torch >= 2.6."""
from recbole.trainer import Trainer

from recbole_hnlm.compat import trusted_torch_load

_shimmed = {}


class CheckpointShimMixin:
    """Loads the checkpoints this trainer saved (pickled Config inside) on torch >= 2.6."""

    def evaluate(self, *args, **kwargs):
        with trusted_torch_load():
            return super().evaluate(*args, **kwargs)

    def resume_checkpoint(self, resume_file):
        with trusted_torch_load():
            return super().resume_checkpoint(resume_file)


def with_checkpoint_shim(trainer_class):
    """``trainer_class`` with :class:`CheckpointShimMixin` in front (one subclass per class)."""
    if issubclass(trainer_class, CheckpointShimMixin):
        return trainer_class
    if trainer_class not in _shimmed:
        _shimmed[trainer_class] = type(trainer_class.__name__, (CheckpointShimMixin, trainer_class), {})
    return _shimmed[trainer_class]


HNLMTrainer = with_checkpoint_shim(Trainer)
