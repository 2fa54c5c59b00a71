"""Training the SAM2Refiner modules on a frozen SAM 2 (``python -m sam2refiner.model.train``).

synthetic.py      fine-structure images / videos with exact masks, from a seed
datasets.py       HQSeg-44K / test-set / LVOS readers and the data set manifest
fake_layout.py    synthetic data written in the real layouts (tests, demos)
samples.py        augmentation and soft targets; prompts.py: mixed prompt sampling; losses.py: eq. 3
feature_cache.py  frozen-encoder outputs reused across epochs; train_state.py: resumable state files
config.py, engine.py   the configuration and the (DDP) training loop
"""
