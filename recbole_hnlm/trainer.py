"""Trainers: RecBole's own loop, with checkpoints read through :mod:`recbole_hnlm.checkpoint` and a per-epoch record."""
import time

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


class CpuDistributedMixin:
    """DDP on CPUs: RecBole's Trainer wraps the model with ``device_ids=[local_rank]``, which DDP accepts
    for GPU modules only; a CPU module is wrapped without device ids (gloo reduces its gradients)."""

    def __init__(self, config, model):
        cpu_ddp = not config["single_spec"] and config["device"].type == "cpu"
        if cpu_ddp:
            config["single_spec"] = True  # only while RecBole's __init__ runs: it would build the GPU form
        try:
            super().__init__(config, model)
        finally:
            if cpu_ddp:
                config["single_spec"] = False
        if cpu_ddp:
            from torch.nn.parallel import DistributedDataParallel

            self.distributed_model = DistributedDataParallel(self.model)


def with_plugin_mixins(trainer_class):
    """``trainer_class`` with :class:`EpochRecorderMixin`, :class:`CheckpointShimMixin` and
    :class:`CpuDistributedMixin` in front (one subclass per class)."""
    if issubclass(trainer_class, CheckpointShimMixin):
        return trainer_class
    if trainer_class not in _shimmed:
        _shimmed[trainer_class] = type(
            trainer_class.__name__, (EpochRecorderMixin, CheckpointShimMixin, CpuDistributedMixin, trainer_class), {}
        )
    return _shimmed[trainer_class]


class RunListener:
    """What a run tells its listeners (the benchmark's probes); every method is optional."""

    def batch_end(self, interaction, chosen):
        """After each training batch; ``chosen``: the item each pair's negative came from."""

    def train_epoch_end(self, epoch, record):
        """After each training epoch, before validation; ``record``: {"epoch", "seconds", "loss"}."""

    def valid_epoch_end(self, epoch, record):
        """After each validation; ``record``: {"epoch", "score", "result"}."""


class EpochRecorderMixin:
    """Records each training epoch (seconds, summed loss) and validation, and tells ``listeners``.

    A subclass of RecBole's trainer through its own extension points (``_train_epoch``'s
    ``loss_func``), so that the command line and the benchmark run the same training.
    """

    def __init__(self, config, model):
        super().__init__(config, model)
        self.train_epochs = []
        self.valid_epochs = []
        self.listeners = []

    def _observed_step(self, loss_func):
        model, listeners = self.model, self.listeners

        def step(interaction):
            if loss_func is None and hasattr(model, "loss_and_negatives"):
                losses, chosen = model.loss_and_negatives(interaction)
            else:
                losses, chosen = (loss_func or model.calculate_loss)(interaction), interaction[model.NEG_ITEM_ID]
            for listener in listeners:
                listener.batch_end(interaction, chosen)
            return losses

        return step

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        if self.listeners:
            loss_func = self._observed_step(loss_func)
        if hasattr(self.model, "set_epoch"):
            self.model.set_epoch(epoch_idx)
        start = time.perf_counter()
        loss = super()._train_epoch(train_data, epoch_idx, loss_func=loss_func, show_progress=show_progress)
        record = {"epoch": int(epoch_idx), "seconds": time.perf_counter() - start,
                  "loss": float(sum(loss)) if isinstance(loss, tuple) else float(loss)}
        self.train_epochs.append(record)
        for listener in self.listeners:
            listener.train_epoch_end(int(epoch_idx), record)
        return loss

    def _valid_epoch(self, valid_data, show_progress=False):
        score, result = super()._valid_epoch(valid_data, show_progress=show_progress)
        epoch = self.train_epochs[-1]["epoch"] if self.train_epochs else -1
        record = {"epoch": epoch, "score": float(score), "result": {k: float(v) for k, v in dict(result).items()}}
        self.valid_epochs.append(record)
        for listener in self.listeners:
            listener.valid_epoch_end(epoch, record)
        return score, result
