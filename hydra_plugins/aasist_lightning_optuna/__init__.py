"""The Optuna sweeper of ``hparams_search=optuna_eer``: the Hydra plugin's, except that a search whose every
trial failed ends as any multirun with failed jobs does (each job's error, the sweep's report, exit status 2
for bad input), and one whose trials returned no value says which setting to fix, not with Optuna's "No
trials are completed yet" traceback. Hydra takes sweepers only from the ``hydra_plugins`` namespace package,
hence this one's place."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper as PluginSweeper
from omegaconf import ListConfig, OmegaConf

from aasist_lightning.cli.checker import Checker, config_error
from aasist_lightning.cli.errors import JOB_ERROR_FILE, ConfigError, report
from aasist_lightning.cli.trainer_checks import check_optimized_metric

log = logging.getLogger(__name__)


class OptunaSweeper(PluginSweeper):
    def setup(self, *, config: Any, **kwargs: Any) -> None:
        self._config = config
        super().setup(config=config, **kwargs)

    def sweep(self, arguments: list[str]) -> None:
        prog = Path(sys.argv[0]).stem
        problems = self._problems(arguments)
        if problems:
            raise SystemExit(report(prog, config_error("invalid search", problems)))
        try:
            super().sweep(arguments)
        except ValueError as error:
            if "No trials are completed" not in str(error):
                raise
            if any(Path(self._config.hydra.sweep.dir).glob(f"*/{JOB_ERROR_FILE}")):
                log.error("no trial of the search completed: no best parameters (optimization_results.yaml)")
                return  # the failed jobs are reported at the end of the multirun
            metric = self._config.get("optimized_metric")
            why = ConfigError(
                f"optimized_metric={metric!r}: no trial returned it, so the search has nothing to minimise. "
                "Fix: optimized_metric=val/eer_best (or another metric train.py logs), with train=true"
            )
            raise SystemExit(report(prog, why)) from None

    def _problems(self, arguments: list[str]) -> list[str]:
        """The search's settings that Optuna would fail on with a traceback (or after a trial trained)."""
        import optuna
        from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides

        checker = Checker()
        impl = self.sweeper
        checker.int_at_least("hydra.sweeper.n_trials", impl.n_trials, 1, "e.g. hydra.sweeper.n_trials=20")
        checker.int_at_least("hydra.sweeper.n_jobs", impl.n_jobs, 1, "1 (trials one after the other) or more")
        directions = impl.direction if isinstance(impl.direction, list | ListConfig) else [impl.direction]
        for direction in directions:
            if str(getattr(direction, "name", direction)) not in ("minimize", "maximize"):
                checker.add("hydra.sweeper.direction", direction, "is not minimize or maximize", "minimize")
        check_optimized_metric(checker, self._config.get("optimized_metric"))
        startup = OmegaConf.select(self._config, "hydra.sweeper.sampler.n_startup_trials")
        if startup is not None:  # TPE treats a negative count as none, silently
            checker.int_at_least("hydra.sweeper.sampler.n_startup_trials", startup, 0, "e.g. 5 random trials")
        try:  # the search space as the sweeper reads it: hydra.sweeper.params, then the command line's ranges
            create_params_from_overrides([*impl._parse_sweeper_params_config(), *arguments])
        except ValueError as error:
            fix = "e.g. model.optimizer.lr=tag(log, interval(1e-5, 5e-4))"
            where = "hydra.sweeper.params or the command line"
            checker.problems.append(f"search space: {str(error).rstrip('.')}. Fix: {fix} ({where}).")
        if not checker.problems:  # opening a database may create it: only for a search that will run
            try:
                optuna.storages.get_storage(impl.storage)
            except Exception as error:  # a database URL that cannot be opened: SQLAlchemy's many errors
                reason = str(error).splitlines()[0] if str(error) else type(error).__name__
                checker.add(
                    "hydra.sweeper.storage", impl.storage, reason, "null, or e.g. sqlite:///optuna.db"
                )
        return checker.problems


__all__ = ["OptunaSweeper"]
