"""StarGAN v2: diverse image-to-image translation across multiple domains.

Public API (imports are lazy so ``import starganv2`` stays cheap):

- :mod:`starganv2.nets`: Generator, MappingNetwork, StyleEncoder, Discriminator
- :mod:`starganv2.losses`: pure loss functions
- :mod:`starganv2.module`: ``StarGANv2Module`` (LightningModule)
- :mod:`starganv2.data`: ``ImageDomainDataModule`` (LightningDataModule)
"""

__version__ = "0.1.0"
