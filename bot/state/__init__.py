"""State that survives restarts: the SQLite store, reminders and the index cache."""
