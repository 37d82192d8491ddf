"""Staff files: load and check the YAML, evaluate question sets, ingest notices into drafts."""
