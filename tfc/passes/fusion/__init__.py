"""The fuse pass's rewrite rules, one module per family."""
