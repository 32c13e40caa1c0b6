"""What analysts see in notebooks: progress and result widgets, the scenario explorer and the
client of a running server."""
