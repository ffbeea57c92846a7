"""Dense object descriptors trained through a keypoint task (paper 004) and the DON NT-Xent baseline."""
