"""The command line and the offline tools: replay, simulate, score, eval, sources, topics."""
