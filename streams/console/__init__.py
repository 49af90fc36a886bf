"""The supervisors' console: its views, the state it shows, its static page."""
