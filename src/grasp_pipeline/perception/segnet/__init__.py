"""Converge-Fast segmentation network (paper 000): config, model, losses, post-processing, detector."""

from grasp_pipeline.perception.segnet.config import SegNetConfig
from grasp_pipeline.perception.segnet.model import SegNet

__all__ = ["SegNet", "SegNetConfig"]
