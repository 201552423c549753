"""Reading ultrasound datasets: layouts, validation, transforms, per-task datasets and multi-task sampling.

The trainer needs only :func:`m2dino.data.build.build_datasets` and :func:`m2dino.data.build.build_loader`;
``python -m m2dino validate`` wraps :func:`m2dino.data.validate.validate_dataset`.
"""
