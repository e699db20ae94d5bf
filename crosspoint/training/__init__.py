"""CrossPoint pretraining: the loop (:mod:`~crosspoint.training.pretrain`), its params, data, augmentations,
losses, validation and live log, and the helpers it runs on, one module each: the optimiser
(:mod:`~crosspoint.training.optim`), seeding and RNG state (:mod:`~crosspoint.training.seeding`), the
process's device and the torchrun / DistributedDataParallel plumbing (:mod:`~crosspoint.training.distributed`),
precision (:mod:`~crosspoint.training.precision`) and measuring (:mod:`~crosspoint.training.measure`).
Checkpoint files: :mod:`crosspoint.checkpoints`; device names: :mod:`crosspoint.devices`.

This file holds no code: importing any module of the package runs it, so whatever it imported would become
a code dependency of every stage that uses one of them.
"""
