"""pytest plugin for convotest (filled in by the plugin issue)."""
