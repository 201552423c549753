"""m2dino: reproducible companion to 'Understanding Task Aggregation for Generalizable Ultrasound Foundation Models'."""

__version__ = "0.1.0"
