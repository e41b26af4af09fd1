"""tfc-nas: SuperNAS and SparseNAS, the search half of TinyFormer, with tfc as the cost model.

    from nas.config import RunConfig
    from nas.pipeline import run_pipeline
    report = run_pipeline(RunConfig(flash_bytes=64 * 1024, sram_bytes=32 * 1024), "runs/digits")

See docs/nas.md.
"""
