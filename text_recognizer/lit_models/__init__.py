"""LightningModules that wrap the models (losses, metrics, logging), imported on first use."""
from text_recognizer.registry import lazy_getattr

# class name -> module of this package that defines it
_MODULES = {
    "BaseLitModel": "base",
    "CTCLitModel": "ctc",
    "TransformerLitModel": "transformer",
}
__all__ = sorted(_MODULES)
__getattr__ = lazy_getattr(__name__, _MODULES)
