"""The rewrite rules the canonicalize pass runs, one small module per family.

Each rule is `rule(graph, ctx) -> int` (how many rewrites it made) and keeps the graph's
semantics exactly as `tfc.interp.run` defines them.
"""
