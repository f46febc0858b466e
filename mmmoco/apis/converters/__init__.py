"""Checkpoint conversions behind ``tools/model_converters``: the library the scripts call, one
module per conversion (``backbone``, ``official``, ``detectron2``, ``timm``) and ``common`` for
reading inputs, writing outputs and the scripts' command line.

- backbone extraction (:func:`extract_backbone`, :func:`extract_backbone_file`): the weights
  of an mmmoco checkpoint under a prefix (``backbone.``), with torchvision (ResNet) or timm
  (ViT) key names;
- official checkpoints (:func:`convert_official_moco`, :func:`convert_official_moco_file`):
  facebookresearch/moco (v1/v2) and moco-v3 state dicts renamed to mmmoco's ``MoCo`` /
  ``MoCoV3`` keys;
- detectron2 (:func:`convert_to_detectron2`, :func:`convert_to_detectron2_file`): ResNet
  weights with detectron2 names, as numpy arrays in a pickle;
- timm / DeiT (:func:`vit_weights`, :func:`export_timm_file`): a ViT backbone checked to be
  exactly a head-less timm ``VisionTransformer``'s.

The ``*_file`` functions read an input file, convert it and write the output atomically
(:func:`write_atomically`), refusing to replace an existing output without ``force``, with a
progress bar over these steps on stderr (:func:`conversion_progress`). Input
errors raise ``ValueError`` (or ``OSError``) naming the input; :func:`exit_on_bad_input` turns
them into a one-line exit for the scripts, whose command line :func:`converter_parser` builds.
"""
from .common import (CONVERSION_STEPS, OFFICIAL_MOCOV3_PREFIX, OFFICIAL_MOCO_PREFIX,
                     check_output_path, conversion_progress, converter_parser, describe_keys,
                     exit_on_bad_input, new_file_mode, normalise_prefix, save_checkpoint,
                     state_dict_of, top_level_prefixes, write_atomically)
from .backbone import backbone_meta, extract_backbone, extract_backbone_file
from .official import (ENCODERS, PROJECTION_KEY, QUEUE_BUFFERS, V3_ENCODERS, V3_MLP_LAYER,
                       V3_PREDICTOR_PREFIX, V3_PROJECTOR_KEY, convert_keys, convert_official_moco,
                       convert_official_moco_file, encoder_key, mlp_layer_key, mocov3_key,
                       official_meta, projection_key, scalar_pointer, transpose_queue)
from .detectron2 import (BLOCK_KEY, BLOCK_RULES, NORM, RESNET_REQUIRED_KEYS, STEM_RULES,
                         check_resnet_keys, convert_to_detectron2, convert_to_detectron2_file,
                         detectron2_key, resnet_weights)
from .timm import (TIMM_VIT_KEY, VIT_REQUIRED_KEYS, check_vit_keys, export_meta, export_timm_file,
                   vit_weights)

__all__ = [
    'BLOCK_KEY', 'BLOCK_RULES', 'CONVERSION_STEPS', 'ENCODERS', 'NORM', 'OFFICIAL_MOCOV3_PREFIX',
    'OFFICIAL_MOCO_PREFIX', 'PROJECTION_KEY', 'QUEUE_BUFFERS', 'RESNET_REQUIRED_KEYS',
    'STEM_RULES', 'TIMM_VIT_KEY', 'V3_ENCODERS', 'V3_MLP_LAYER', 'V3_PREDICTOR_PREFIX',
    'V3_PROJECTOR_KEY', 'VIT_REQUIRED_KEYS', 'backbone_meta', 'check_output_path',
    'check_resnet_keys', 'check_vit_keys', 'conversion_progress', 'convert_keys',
    'convert_official_moco',
    'convert_official_moco_file', 'convert_to_detectron2', 'convert_to_detectron2_file',
    'converter_parser', 'describe_keys', 'detectron2_key', 'encoder_key',
    'exit_on_bad_input', 'export_meta', 'export_timm_file', 'extract_backbone',
    'extract_backbone_file', 'mlp_layer_key', 'mocov3_key', 'new_file_mode',
    'normalise_prefix', 'official_meta', 'projection_key', 'resnet_weights',
    'save_checkpoint', 'scalar_pointer', 'state_dict_of', 'top_level_prefixes',
    'transpose_queue', 'vit_weights', 'write_atomically'
]
