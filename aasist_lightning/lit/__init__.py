"""Lightning glue: the LightningModule, its callbacks and the loggers."""
