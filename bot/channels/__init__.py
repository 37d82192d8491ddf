"""Channels: translate platform payloads to and from the service, nothing else."""
