"""Coaching over time: scorecards per agent and team, built from call summaries."""
