"""Where the images come from: decoding, ImageNet / ImageNet-C / folder sources and
their clean pairs, label files, the bundled demo photos."""
