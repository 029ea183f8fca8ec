"""The offline pipeline: datasets, splits, training, evaluation, reports, bundles and the CLI."""
