"""Train AASIST: `python train.py [Hydra overrides]` (see conf/train.yaml and the README's "Training")."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from aasist_lightning.cli.train import train

    metrics = train(cfg)
    # The value a sweeper (Optuna) optimises.
    metric = cfg.get("optimized_metric")
    return metrics.get(metric) if metric else None


if __name__ == "__main__":
    main()
