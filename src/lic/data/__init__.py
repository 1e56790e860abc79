"""Images and photos: :mod:`.images` (tensors in, files out), :mod:`.datasets` (the validation
split, the evaluation set, training crops) and :mod:`.downloads` (Kodak, DIV2K, for machines with internet)."""
from .datasets import (EVAL_DIR, EVAL_SHAPES, REPO_DATA, TRAIN_DIR, VALIDATION_DIR, RandomCrops, endless,
                       evaluation_paths, evaluation_set, training_loader, validation_paths, validation_set)
from .downloads import (DIV2K_TRAIN_HR_MD5, DIV2K_TRAIN_HR_URL, KODAK_SHA256, KODAK_URL, download_div2k,
                        download_kodak, downscale_image, extract_images, file_digest)
from .images import (IMAGE_SUFFIXES, LUMA_WEIGHTS, check_image, crop_to, from_array, from_uint8, list_images,
                     load_image, luminance, pad_to_multiple, save_image, to_grey, to_uint8)

__all__ = [
    "EVAL_DIR", "EVAL_SHAPES", "REPO_DATA", "TRAIN_DIR", "VALIDATION_DIR", "RandomCrops", "endless",
    "evaluation_paths", "evaluation_set", "training_loader", "validation_paths", "validation_set", "DIV2K_TRAIN_HR_MD5", "DIV2K_TRAIN_HR_URL", "KODAK_SHA256", "KODAK_URL",
    "download_div2k", "download_kodak", "downscale_image", "extract_images", "file_digest", "IMAGE_SUFFIXES",
    "check_image", "crop_to", "from_array", "from_uint8", "list_images", "load_image", "pad_to_multiple",
    "save_image", "to_uint8", "LUMA_WEIGHTS", "luminance", "to_grey",
]
