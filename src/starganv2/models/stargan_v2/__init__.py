"""StarGAN v2 (Choi et al., CVPR 2020): nets, losses, one training iteration, the LightningModule."""
