"""Bad-input cases of the Hydra applications (train.py, eval.py), and of aasist-predict on damaged audio, for
tests/test_bad_input.py. Every train / eval case stops before training or scoring starts (checks before work),
except the NaN-audio ones, which stop at the first batch that reads the file."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import soundfile as sf
from bad_input import Case, Workspace

# A tiny model, no experiment logger, the session's tiny corpus when a case copies it (ws.data_dir()).
TINY = ["debug=tiny", "logger=none", "progress=false"]
TRAIN_TINY = ["debug=tiny", "logger=none", "~callbacks.rich_progress_bar", "~callbacks.model_summary"]


def tiny(*extra: str, base: list[str] = TINY) -> Callable[[Workspace], list[str]]:
    """debug=tiny overrides (eval.py's unless ``base``) plus ``extra`` ({ws} is the workspace)."""
    return lambda ws: [*base, *(e.format(ws=ws.root) for e in extra)]


def train(*extra: str) -> Callable[[Workspace], list[str]]:
    return tiny(*extra, base=TRAIN_TINY)


def with_data(*extra: str, base: list[str] = TINY) -> Callable[[Workspace], list[str]]:
    """As :func:`tiny`, on a workspace copy of the tiny corpus."""
    return lambda ws: [*base, f"paths.data_dir={ws.data_dir()}", *(e.format(ws=ws.root) for e in extra)]


def train_with_data(*extra: str) -> Callable[[Workspace], list[str]]:
    return with_data(*extra, base=TRAIN_TINY)


def random_bytes(ws: Workspace) -> None:
    ws.write("rand.ckpt", np.random.default_rng(0).bytes(4096))


def checkpoint(name: str = "model.ckpt", **arch: object) -> Callable[[Workspace], None]:
    """A training-format checkpoint of a random tiny network (``arch`` overrides its architecture)."""

    def setup(ws: Workspace) -> None:
        from inference_fixtures import random_checkpoint

        random_checkpoint(ws.path(name), **arch)

    return setup


def resumable_checkpoint(epochs: int, optimizer: str = "torch.optim.Adam") -> Callable[[Workspace], None]:
    """model.ckpt as a run of debug=tiny's recipe (``optimizer``, cosine schedule) leaves it after ``epochs``,
    as far as the resume checks read it."""

    def setup(ws: Workspace) -> None:
        import torch

        path = ws.path("model.ckpt")
        checkpoint(path.name)(ws)
        ckpt = torch.load(path, weights_only=True)
        cosine = {"_target_": "torch.optim.lr_scheduler.CosineAnnealingLR", "T_max": None, "interval": "step"}
        ckpt["hyper_parameters"].update(
            optimizer={"_target_": optimizer, "_partial_": True}, scheduler=cosine
        )
        progress = {"epoch_progress": {"current": {"processed": epochs, "completed": epochs - 1}}}
        ckpt.update(
            optimizer_states=[{}], lr_schedulers=[{}], global_step=3 * epochs, loops={"fit_loop": progress}
        )
        torch.save(ckpt, path)

    return setup


def checkpoint_without(key: str) -> Callable[[Workspace], None]:
    def setup(ws: Workspace) -> None:
        import torch

        checkpoint()(ws)
        ckpt = torch.load(ws.path("model.ckpt"), weights_only=True)
        del ckpt["state_dict"][key]
        torch.save(ckpt, ws.path("model.ckpt"))

    return setup


def truncated_checkpoint(ws: Workspace) -> None:
    full = checkpoint("full.ckpt")
    full(ws)
    data = ws.path("full.ckpt").read_bytes()
    ws.write("cut.ckpt", data[: len(data) // 2])
    ws.path("full.ckpt").unlink()


def plain_state_dict(ws: Workspace) -> None:
    import torch

    torch.save({"weight": torch.zeros(3)}, ws.path("weights.pth"))


def manifest(name: str, rows: list[tuple[str, str]]) -> Callable[[Workspace], None]:
    """``name`` listing ``rows`` (file, label); files named ``gone*`` are not written, ``trunc*`` are WAVs cut
    mid-data, ``nan*`` hold a NaN sample, the others are 1 s of noise."""

    def setup(ws: Workspace) -> None:
        for i, (file, _) in enumerate(rows):
            if file.startswith("gone") or ws.path(file).exists():
                continue
            path = ws.wav(file, seed=i)
            if file.startswith("trunc"):
                data = path.read_bytes()
                path.write_bytes(data[: len(data) // 2])
            elif file.startswith("nan"):
                wave = np.zeros(16000, np.float32)
                wave[-1] = np.nan
                sf.write(path, wave, 16000, subtype="FLOAT")
        ws.write(name, "".join(f"{file},{label}\n" for file, label in rows))

    return setup


def earlier_run(ws: Workspace) -> None:
    """The files of a finished run in ``old/``."""
    ws.write("old/results.json", '{"test/eer": 1.0}')
    ws.write("old/checkpoints/last.ckpt", b"a trained model")
    ws.write("old/.hydra/config.yaml", "seed: 1\n")


def linked_folder(ws: Workspace) -> None:
    """``a/link`` -> ``real/sub``: ``a/link/..`` is ``real`` to the system, ``a`` when read lexically."""
    ws.path("real/sub").mkdir(parents=True)
    ws.path("a").mkdir()
    ws.path("a/link").symlink_to(ws.path("real/sub"))


def both(*setups: Callable[[Workspace], None]) -> Callable[[Workspace], None]:
    def setup(ws: Workspace) -> None:
        for one in setups:
            one(ws)

    return setup


BALANCED = [(f"c{i}.wav", "bonafide" if i % 2 else "spoof") for i in range(6)]
# Validation (sanity check: 2 batches of 4) passes the first clips; the NaN clip is in the last batch.
LATE_NAN = [*[(f"v{i}.wav", "bonafide" if i % 2 else "spoof") for i in range(12)], ("nan.wav", "spoof")]
MANIFESTS = [
    "data=manifest",
    "data.train_subset=null",
    "data.train_manifest={ws}/train.csv",
    "data.dev_manifest={ws}/train.csv",
]
ALL_MANIFESTS = [*MANIFESTS, "data.eval_manifest={ws}/train.csv"]


TRAIN: list[Case] = [
    Case("negative-first-conv", "train", train("model.first_conv=-3"), ("model.first_conv=-3",)),
    # A configured class rejecting its arguments (Hydra's "Error in call to target" wrapper, exit 1 before).
    Case(
        "augment-range-reversed",
        "train",
        train("augment=gain", "augment.min_db=6", "augment.max_db=-6"),
        (
            "data.augment: augment.min_db=6 must be <= augment.max_db=-6.",
            "Fix: check the data.augment.* values",
        ),
    ),
    Case(
        "augment-unknown-key",
        "train",
        train("augment=gain", "+augment.foo=1"),
        ("data.augment:", "unexpected keyword argument 'foo'"),
    ),
    Case(
        "checkpoint-mode-typo",
        "train",
        train("callbacks.model_checkpoint.mode=mni"),
        ("callbacks.model_checkpoint: `mode` can be min, max but got mni",),
    ),
    Case(
        "missing-root-is-not-generated",
        "train",
        train("data=asvspoof2019_la", "data.root={ws}/nowhere/LA"),  # debug=tiny's generator is not used
        ("data.root={ws}/nowhere/LA does not exist", "nothing is generated there"),
    ),
    Case(
        "root-is-a-file",
        "train",
        train("data=asvspoof2019_la", "data.root={ws}/LA"),
        ("data.root={ws}/LA is not a folder",),
        setup=lambda ws: ws.write("LA", "not a corpus"),
    ),
    Case(
        "ckpt-random-bytes",
        "train",
        train_with_data("ckpt_path={ws}/rand.ckpt"),
        ("ckpt_path", "{ws}/rand.ckpt", "not a PyTorch file"),
        setup=random_bytes,
    ),
    Case(
        "ckpt-truncated",
        "train",
        train_with_data("ckpt_path={ws}/cut.ckpt"),
        ("ckpt_path", "{ws}/cut.ckpt", "truncated"),
        setup=truncated_checkpoint,
    ),
    Case(
        "ckpt-other-model-size",
        "train",
        train_with_data("ckpt_path={ws}/model.ckpt"),
        ("ckpt_path", "model.gat_dims=[4, 8] in the checkpoint, [4, 4] configured", "model.gat_dims=[4,8]"),
        setup=checkpoint(gat_dims=[4, 8]),
    ),
    Case(
        "ckpt-plain-state-dict",
        "train",
        train_with_data("ckpt_path={ws}/weights.pth"),
        ("{ws}/weights.pth is not a training checkpoint",),
        setup=plain_state_dict,
    ),
    # Checkpoints that cannot continue the run: Lightning's tracebacks once the data was prepared.
    Case(
        "ckpt-weights-only",
        "train",
        train_with_data("ckpt_path={ws}/model.ckpt"),
        ("{ws}/model.ckpt holds the weights only", "model.pretrained={ws}/model.ckpt instead of ckpt_path"),
        setup=checkpoint(),
    ),
    Case(
        "ckpt-missing-weight",
        "train",
        train_with_data("ckpt_path={ws}/model.ckpt"),
        ("does not hold this network's weights (missing: model.out_layer.bias)",),
        setup=checkpoint_without("model.out_layer.bias"),
    ),
    Case(
        "ckpt-other-optimizer",
        "train",
        train_with_data("ckpt_path={ws}/model.ckpt"),
        ("trained with model.optimizer._target_=torch.optim.SGD, configured model.optimizer._target_=",),
        setup=resumable_checkpoint(1, optimizer="torch.optim.SGD"),
    ),
    Case(
        "ckpt-of-a-finished-run",  # trained nothing and replaced the results without val/eer_best
        "train",
        train_with_data("ckpt_path={ws}/model.ckpt"),
        (
            "has trained 2 epochs (6 steps), all that trainer.max_epochs=2 allow",
            "trainer.max_epochs=3 or more",
        ),
        setup=resumable_checkpoint(2),
    ),
    Case("ckpt-last-without-run", "train", train("ckpt_path=last"), ("ckpt_path='last'",)),
    Case(
        "wandb-offline-nonsense",
        "train",
        train("logger=wandb", "logger.wandb.offline=maybe"),
        ("logger.wandb", "offline='maybe' must be auto, true or false"),
    ),
    Case(  # EarlyStopping took it and stopped after the first validation
        "negative-patience",
        "train",
        train("callbacks=with_early_stopping", "callbacks.early_stopping.patience=-1"),
        ("callbacks.early_stopping.patience=-1: must be an integer >= 0",),
    ),
    Case(  # blamed on offline mode ("model checkpoints cannot be uploaded in offline mode")
        "wandb-log-model-nonsense",
        "train",
        train("logger=wandb", "logger.wandb.log_model=sometimes"),
        ("logger.wandb", "log_model='sometimes' must be auto, all, true or false"),
    ),
    Case(
        "run-folder-holds-a-run",  # its last.ckpt, config and log were replaced (by NaN weights, say)
        "train",
        train("hydra.run.dir={ws}/old"),
        ("hydra.run.dir={ws}/old holds an earlier run (results.json)", "add ckpt_path=last"),
        setup=earlier_run,
    ),
    Case("typo-in-model-key", "train", train("+model.frist_conv=3"), ("did you mean model.first_conv",)),
    Case("typo-in-override", "train", train("model.frist_conv=3"), ("frist_conv",)),
    Case("typo-in-data-key", "train", train("+data.eval_subst=4"), ("did you mean data.eval_subset",)),
    # Trainer settings Lightning takes and fails on only once training runs (or trains nothing with).
    Case(
        "trainer-settings-that-fail-in-training",
        "train",
        train(
            *("trainer.check_val_every_n_epoch=0", "trainer.accumulate_grad_batches=0"),
            *("trainer.limit_train_batches=0", "trainer.gradient_clip_val=-1"),
            "callbacks.model_checkpoint.monitor=val/eeer",
        ),
        (
            *("trainer.check_val_every_n_epoch=0", "trainer.accumulate_grad_batches=0"),
            *("trainer.limit_train_batches=0", "trainer.gradient_clip_val=-1"),
            "callbacks.model_checkpoint.monitor='val/eeer': is not a metric the training logs",
            "did you mean val/eer?",
        ),
    ),
    Case(  # Optuna found no completed trial for its best: a traceback after the failed jobs, no report
        "optuna-every-trial-fails",
        "train",
        train("hparams_search=optuna_eer", "hydra.sweeper.n_trials=2", "trainer.max_epochs=0"),
        (
            "trainer.max_epochs=0: must be an integer >= 1",
            "no trial of the search completed",
            "2 job(s) of the multirun failed",
        ),
    ),
    Case(  # each trial returned None: Optuna's traceback, or (before) exit status 0
        "optuna-metric-never-returned",
        "train",
        train_with_data(
            "hparams_search=optuna_eer",
            "hydra.sweeper.n_trials=1",
            "trainer.max_epochs=1",
            "optimized_metric=test/eeer",  # any test/ metric passes the check before the search (per attack)
            "~callbacks.test_plots",
        ),
        ("optimized_metric='test/eeer': no trial returned it", "optimized_metric=val/eer_best"),
    ),
    Case(  # a traceback each (Optuna, SQLAlchemy, a division by zero); a misspelt metric after a trial
        "optuna-search-settings",
        "train",
        train(
            "hparams_search=optuna_eer",
            "hydra.sweeper.n_trials=0",
            "hydra.sweeper.n_jobs=0",
            "hydra.sweeper.direction=maximise",
            "optimized_metric=val/eeer",
            "hydra.sweeper.sampler.n_startup_trials=-1",
        ),
        (
            "hydra.sweeper.sampler.n_startup_trials=-1: must be an integer >= 0",
            "hydra.sweeper.n_trials=0: must be an integer >= 1",
            "hydra.sweeper.n_jobs=0",
            "hydra.sweeper.direction='maximise': is not minimize or maximize",
            "optimized_metric='val/eeer'",
        ),
    ),
    Case(  # SQLAlchemy's 130-line traceback; the CSV is left as it was
        "optuna-storage-not-a-database",
        "train",
        train("hparams_search=optuna_eer", "hydra.sweeper.storage=sqlite:///{ws}/train.csv"),
        ("hydra.sweeper.storage='sqlite:///{ws}/train.csv'", "Fix: null, or e.g. sqlite:///optuna.db"),
        setup=manifest("train.csv", BALANCED),
    ),
    Case(  # the jobs run in processes of their own: the sweep exited 0 without a word
        "submitit-local-job-fails",
        "train",
        lambda ws: [
            "-m",
            *TRAIN_TINY,
            "hydra/launcher=submitit_local",
            "data.train_subset=13",
            "test=false",
            f"hydra.sweep.dir={ws.root}/sweep",
        ],
        ("data.train_subset=13: must be even", "1 job(s) of the multirun failed (jobs: 0)"),
    ),
    Case(  # reached sbatch as "#SBATCH --nodes=-2", or a job's traceback
        "launcher-counts",
        "train",
        lambda ws: [
            "-m",
            *TRAIN_TINY,
            "hydra/launcher=submitit_local",
            "hydra.launcher.timeout_min=-1",
            "hydra.launcher.gpus_per_node=-4",
            f"hydra.sweep.dir={ws.root}/sweep",
        ],
        ("hydra.launcher.timeout_min=-1: must be an integer >= 0", "hydra.launcher.gpus_per_node=-4"),
    ),
    Case(
        "optuna-search-space",
        "train",
        train("hparams_search=optuna_eer", "model.optimizer.lr=tag(log,interval(-1,5e-4))"),
        (
            "search space: The `low` value must be larger than 0 for a log distribution",
            "hydra.sweeper.params or the command line",
        ),
    ),
    Case(
        "nothing-to-do",
        "train",
        train("train=false", "test=false"),
        ("with test=false the run does nothing",),
    ),
    Case("flag-not-boolean", "train", train("test=maybe"), ("test='maybe': must be true or false",)),
    Case("lr-nan", "train", train("model.optimizer.lr=nan"), ("model.optimizer.lr=nan", "> 0")),
    # The optimizer and scheduler are built when training starts: these were tracebacks after the set-up.
    Case(
        "optimizer-stray-arg", "train", train("+model.optimizer.momentum=0.9"), ("model.optimizer.momentum",)
    ),
    Case(
        "optimizer-target-typo",
        "train",
        train("model.optimizer._target_=torch.optim.Adamm"),
        ("model.optimizer._target_='torch.optim.Adamm': cannot be imported",),
    ),
    Case(
        "scheduler-t-max-zero", "train", train("model.scheduler.T_max=0"), ("model.scheduler.T_max=0", ">= 1")
    ),
    Case(
        "scheduler-arg-typo",
        "train",
        train("+model.scheduler.T_mx=3"),
        ("did you mean model.scheduler.T_max",),
    ),
    Case("lr-negative", "train", train("model.optimizer.lr=-1"), ("model.optimizer.lr=-1", "> 0")),
    Case("nb-samp-10", "train", train("model.nb_samp=10"), ("model.nb_samp=10", "minimum input length")),
    Case(
        "data-nb-samp-5",  # the crop is the network's input: a traceback from the ONNX export before
        "train",
        train("data.nb_samp=5"),
        ("data.nb_samp=5: is shorter than the minimum input length", "it follows model.nb_samp="),
    ),
    Case("batch-size-zero", "train", train("data.batch_size=0"), ("data.batch_size=0", ">= 1")),
    Case("max-epochs-zero", "train", train("trainer.max_epochs=0"), ("trainer.max_epochs=0", ">= 1")),
    Case("odd-train-subset", "train", train("data.train_subset=7"), ("data.train_subset=7", "even")),
    Case("bad-audio-policy", "train", train("data.on_bad_audio=ignore"), ("data.on_bad_audio='ignore'",)),
    Case(
        "subset-larger-than-split",
        "train",
        train_with_data("data.train_subset=1000"),
        ("data.train_subset=1000 needs 500 bona fide", "ASVspoof2019.LA.cm.train.trn.txt"),
    ),
    Case("manifest-group-unset", "train", train("data=manifest"), ("data.train_manifest='???'",)),
    Case(
        "manifest-without-eval-manifest",
        "train",
        train(*MANIFESTS),
        ("data.eval_manifest", "test=true reads the eval split", "test=false"),
        setup=manifest("train.csv", BALANCED),
    ),
    Case(
        "one-class-manifest",
        "train",
        train(*ALL_MANIFESTS),
        ("{ws}/train.csv: the train split has 6 bona fide and 0 spoof trials",),
        setup=manifest("train.csv", [(f"c{i}.wav", "bonafide") for i in range(6)]),
    ),
    Case(
        "missing-audio",
        "train",
        train(*ALL_MANIFESTS),
        ("2 of 8 audio files listed in {ws}/train.csv are missing", "{ws}/gone0.wav"),
        setup=manifest("train.csv", [*BALANCED, ("gone0.wav", "spoof"), ("gone1.wav", "bonafide")]),
    ),
    Case(
        "truncated-wav",
        "train",
        train(*ALL_MANIFESTS, "data.on_bad_audio=error", "model.inference.backend=eager"),
        ("{ws}/trunc.wav is truncated",),
        setup=manifest("train.csv", [*BALANCED[:5], ("trunc.wav", "bonafide")]),
    ),
    Case(  # found before training, not when the run reaches the eval split
        "unreadable-and-empty-eval-audio",
        "train",
        train(*MANIFESTS, "data.eval_manifest={ws}/eval.csv"),
        (
            "2 of 8 audio files listed in {ws}/eval.csv are damaged",
            "junk.wav cannot be read",
            "empty.wav holds no",
        ),
        setup=both(
            manifest("train.csv", BALANCED),
            lambda ws: ws.write("junk.wav", b"not audio"),
            lambda ws: sf.write(ws.path("empty.wav"), np.zeros(0, np.float32), 16000),
            manifest("eval.csv", [*BALANCED, ("junk.wav", "spoof"), ("empty.wav", "bonafide")]),
        ),
    ),
    Case(
        "nan-clip-late-in-dev",
        "train",
        train(
            *ALL_MANIFESTS[:3],
            "data.dev_manifest={ws}/dev.csv",
            "data.eval_manifest={ws}/train.csv",
            "model.inference.backend=eager",  # no ONNX export before validation: seconds saved
        ),
        ("{ws}/nan.wav has 1 NaN/inf samples",),
        setup=both(manifest("train.csv", BALANCED), manifest("dev.csv", LATE_NAN)),
    ),
    Case(
        "output-dir-is-a-file",
        "train",
        train("paths.output_dir={ws}/out"),
        ("paths.output_dir={ws}/out", "{ws}/out is a file, not a folder"),
        setup=lambda ws: ws.write("out", "a file where the run folder would go"),
    ),
    Case(
        "output-dir-inside-the-corpus",
        "train",
        train("data=asvspoof2019_la", "data.root={ws}/LA", "paths.output_dir={ws}/LA/run"),
        ("paths.output_dir={ws}/LA/run is inside data.root={ws}/LA",),
        setup=lambda ws: ws.path("LA").mkdir(),
    ),
    Case(  # its train_subset.txt would replace the training manifest of the same name
        "output-dir-holds-a-manifest",
        "train",
        train(
            *MANIFESTS[:2],
            "data.train_manifest={ws}/man/train_subset.txt",
            "data.dev_manifest={ws}/dev.csv",
            "test=false",
            "paths.output_dir={ws}/man",
        ),
        ("paths.output_dir={ws}/man holds data.train_manifest={ws}/man/train_subset.txt",),
        setup=both(manifest("man/train_subset.txt", BALANCED), manifest("dev.csv", BALANCED)),
    ),
    Case(  # score files would replace the dev manifest (checkpoints an input checkpoint, an earlier run's)
        "callback-and-logger-folders-outside-the-run",
        "train",
        train(
            "logger=csv",
            "callbacks.score_files.dirpath={ws}",
            "logger.csv.save_dir={ws}/old",
            "logger.csv.name=checkpoints",
        ),
        (
            "callbacks.score_files.dirpath={ws}: leads out of the run folder into {ws}, which holds files",
            "logger.csv.save_dir={ws}/old: leads out of the run folder into {ws}/old/checkpoints",
            "hydra.run.dir=<folder>",
        ),
        setup=both(manifest("dev.txt", BALANCED), earlier_run),
    ),
]

EVAL: list[Case] = [
    Case("unknown-key", "eval", lambda ws: ["nosuchkey=1"], ("nosuchkey",)),
    Case(
        "ckpt-random-bytes",
        "eval",
        with_data("ckpt_path={ws}/rand.ckpt"),
        ("ckpt_path", "{ws}/rand.ckpt", "not a PyTorch file"),
        setup=random_bytes,
    ),
    Case(
        "ckpt-truncated",
        "eval",
        with_data("ckpt_path={ws}/cut.ckpt"),
        ("ckpt_path", "{ws}/cut.ckpt", "truncated"),
        setup=truncated_checkpoint,
    ),
    Case("ckpt-missing", "eval", tiny("ckpt_path={ws}/none.ckpt"), ("ckpt_path=", "none.ckpt")),
    Case(
        "run-folder-holds-a-run",  # the training run's results.json would be replaced by the evaluation's
        "eval",
        tiny("hydra.run.dir={ws}/old"),
        ("hydra.run.dir={ws}/old holds an earlier run (results.json)",),
        setup=earlier_run,
    ),
    Case(
        "nothing-to-evaluate",
        "eval",
        tiny("ckpt_path=null", "model.pretrained=null"),
        ("nothing to evaluate",),
    ),
    Case("unknown-split", "eval", tiny("splits=[test]"), ("splits=['test']", "dev / eval")),
    Case("no-splits", "eval", tiny("splits=[]"), ("splits=[]",)),
    Case(
        "batch-size-bool",
        "eval",
        tiny("ckpt_path={ws}/model.ckpt", "batch_size=true"),
        ("batch_size=True: must be a positive integer",),
        setup=checkpoint(),
    ),
    Case(
        "progress-not-bool",
        "eval",
        tiny("ckpt_path={ws}/model.ckpt", "progress=maybe"),
        ("progress='maybe': must be true or false",),
        setup=checkpoint(),
    ),
    Case(
        "batch-size-zero",
        "eval",
        tiny("ckpt_path={ws}/model.ckpt", "batch_size=0"),
        ("batch_size=0",),
        setup=checkpoint(),
    ),
    Case(
        "missing-root",
        "eval",
        tiny("ckpt_path={ws}/model.ckpt", "data=asvspoof2019_la", "data.root={ws}/nowhere"),
        ("data.root={ws}/nowhere does not exist",),
        setup=checkpoint(),
    ),
    Case(
        "root-without-protocols",
        "eval",
        tiny("ckpt_path={ws}/model.ckpt", "data=asvspoof2019_la", "data.root={ws}/LA"),
        ("{ws}/LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.dev.trl.txt not found",),
        setup=both(checkpoint(), lambda ws: ws.path("LA").mkdir()),
    ),
    Case(
        "manifest-split-not-given",
        "eval",
        tiny("ckpt_path={ws}/model.ckpt", *MANIFESTS),
        ("data.eval_manifest", "splits=[dev,eval] reads the eval split"),
        setup=both(checkpoint(), manifest("train.csv", BALANCED)),
    ),
    Case(
        "missing-audio-in-eval-split",
        "eval",
        tiny(
            "ckpt_path={ws}/model.ckpt",
            *MANIFESTS[:3],
            "data.dev_manifest={ws}/train.csv",
            "data.eval_manifest={ws}/eval.csv",
        ),
        ("1 of 7 audio files listed in {ws}/eval.csv are missing",),
        setup=both(
            checkpoint(),
            manifest("train.csv", BALANCED),
            manifest("eval.csv", [*BALANCED, ("gone.wav", "spoof")]),
        ),
    ),
    Case(
        "truncated-wav-in-eval-split",
        "eval",
        tiny(
            "ckpt_path={ws}/model.ckpt",
            *MANIFESTS[:3],
            "data.dev_manifest={ws}/train.csv",
            "data.eval_manifest={ws}/train.csv",
            "model.inference.backend=eager",
            "splits=[eval]",
        ),
        ("1 of 6 audio files listed in {ws}/train.csv are damaged", "{ws}/trunc.wav is truncated"),
        setup=both(checkpoint(), manifest("train.csv", [*BALANCED[:5], ("trunc.wav", "bonafide")])),
    ),
    Case(  # refused once the model had scored it
        "one-class-eval-manifest",
        "eval",
        tiny(
            "ckpt_path={ws}/model.ckpt",
            *MANIFESTS[:3],
            "data.dev_manifest={ws}/eval.csv",
            "data.eval_manifest={ws}/eval.csv",
            "splits=[eval]",
        ),
        ("the eval split has 3 bona fide and 0 spoof trials listed",),
        setup=both(checkpoint(), manifest("eval.csv", [(f"b{i}.wav", "bonafide") for i in range(3)])),
    ),
    Case(
        "one-class-left-after-skipped-files",
        "eval",
        tiny(
            "ckpt_path={ws}/model.ckpt",
            *MANIFESTS[:3],
            "data.dev_manifest={ws}/train.csv",
            "data.eval_manifest={ws}/eval.csv",
            "data.on_bad_audio=skip",
            "model.inference.backend=eager",
            "splits=[eval]",
        ),
        ("the eval split has 2 bona fide and 0 spoof trials scored", "data.on_bad_audio=skip"),
        setup=both(
            checkpoint(),
            manifest("train.csv", BALANCED),
            lambda ws: ws.write("junk.wav", b"not audio"),  # unreadable: skipped
            manifest("eval.csv", [("b0.wav", "bonafide"), ("b1.wav", "bonafide"), ("junk.wav", "spoof")]),
        ),
    ),
    Case(  # a traceback from Hydra's log file, which took the '..' lexically, and a folder made elsewhere
        "run-dir-dotdot-after-a-link",
        "eval",
        tiny("ckpt_path={ws}/model.ckpt", "hydra.run.dir={ws}/a/link/../out"),
        ("hydra.run.dir={ws}/a/link/../out cannot be made: its '..' follows a link",),
        setup=both(checkpoint(), linked_folder),
    ),
    Case(
        "ckpt-is-a-folder",
        "eval",
        tiny("ckpt_path={ws}"),
        ("ckpt_path='{ws}' is a folder. Fix: give the .ckpt inside it",),
    ),
    Case(  # accepted and ignored before: Hydra adds any new key given with +
        "typo-in-key-added-with-plus",
        "eval",
        tiny("ckpt_path={ws}/model.ckpt", "+batch_sise=4"),
        ("+batch_sise=4: is not a key of this config", "did you mean batch_size?"),
        setup=checkpoint(),
    ),
    Case(
        "typo-in-data-key",
        "eval",
        tiny("ckpt_path={ws}/model.ckpt", "+data.eval_subst=4"),
        ("did you mean data.eval_subset",),
        setup=checkpoint(),
    ),
    Case(
        "bad-audio-policy",
        "eval",
        tiny("ckpt_path={ws}/model.ckpt", "data.on_bad_audio=maybe"),
        ("data.on_bad_audio='maybe'",),
        setup=checkpoint(),
    ),
]


def a_file(ws: Workspace) -> None:
    ws.write("notes.txt", "a file, not a folder\n", mode=0o640)


# The run's (or sweep's) folder is checked before Hydra makes it (cli.output_checks.OutputFolderCheck).
FOLDERS: list[Case] = [
    Case(
        "run-folder-under-a-file",
        "train",
        train("hydra.run.dir={ws}/notes.txt/run"),
        ("hydra.run.dir={ws}/notes.txt/run cannot be made", "{ws}/notes.txt is a file"),
        setup=a_file,
    ),
    Case(  # refused before Hydra writes .hydra/ and its log there (paths.output_dir's check comes later)
        "run-folder-inside-the-corpus",
        "eval",
        tiny("data=folder", "data.root={ws}/corpus", "hydra.run.dir={ws}/corpus/out"),
        ("hydra.run.dir={ws}/corpus/out is inside data.root={ws}/corpus", "Fix: pass another hydra.run.dir"),
        setup=lambda ws: ws.path("corpus").mkdir(),
    ),
    Case(
        "run-folder-holds-a-manifest",
        "train",
        train(*MANIFESTS, "hydra.run.dir={ws}"),
        ("hydra.run.dir={ws} holds data.train_manifest={ws}/train.csv", "Fix: pass another hydra.run.dir"),
        setup=manifest("train.csv", BALANCED),
    ),
    Case(
        "sweep-folder-under-a-file",
        "eval",
        lambda ws: ["-m", *TINY, f"hydra.sweep.dir={ws.root}/notes.txt/sweep"],
        ("hydra.sweep.dir={ws}/notes.txt/sweep cannot be made",),
        setup=a_file,
    ),
]

PREDICT: list[Case] = [
    Case(
        "device-as-audio",
        "predict",
        lambda ws: ["--ckpt", str(ws.path("model.ckpt")), "/dev/zero"],
        ("/dev/zero is a device, pipe or socket, not a regular audio file",),
        setup=checkpoint(),
    ),
]

CASES: list[Case] = [*TRAIN, *EVAL, *FOLDERS, *PREDICT]
