"""The ImageNet-C corruptions: the original code's functions (:mod:`.imagenet_c`), one
picture corrupted reproducibly (:mod:`.pictures`, whose :func:`~.pictures.corrupt` is
``iqalign.scoring.corrupt``) and a whole data set written to disk (:mod:`.dataset`)."""
