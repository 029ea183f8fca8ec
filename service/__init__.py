"""coldrec's online service: a FastAPI app that serves a trained bundle and registers new items."""
