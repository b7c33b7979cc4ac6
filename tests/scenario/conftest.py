"""The fixture files under data/ are inputs for the loader tests, not scenarios to run."""

collect_ignore_glob = ["data/*"]
