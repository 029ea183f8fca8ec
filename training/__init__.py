"""The offline pipeline: data, protocol, fitting, evaluation, report, export and the CLI."""
