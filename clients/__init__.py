"""Programs that talk to a running service: traffic replay, dashboard rendering from Prometheus."""
