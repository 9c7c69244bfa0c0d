"""StarGAN (Choi et al., CVPR 2018), the baseline of StarGAN v2: nets, losses, one training
iteration, the LightningModule."""
