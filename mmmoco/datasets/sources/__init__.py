"""Where the real sample data comes from: Debian's Fashion-MNIST package and the ImageNet
JPEGs shipped in the foolbox wheel."""
