"""What goes in and comes out: the validated config and presets, the result and its finite
JSON, the schemas of the wire messages."""
