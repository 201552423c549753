"""Training: the loop, resumable cached runs, the three paradigms, DDP and the Hydra sweep app.

Entry points: ``m2dino.train.paradigms.run_paradigm`` (notebooks, CLI ``train``), ``m2dino.train.run.run_unit`` (one
run), ``m2dino.train.stacked.run_stack`` (the seeds of one unit as one stacked model, each run as alone),
``m2dino.train.app`` (Hydra multirun). ``python -m m2dino train`` is the one command line, also under torchrun
(``m2dino.train.ddp`` is the library it uses to join the process group).
"""
