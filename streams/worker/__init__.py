"""The streaming worker: the Faust app built from settings, batch application, commits, export."""
