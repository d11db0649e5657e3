"""Models (plain nn.Modules), resolved by name (`--model_class`), imported on first use."""
from text_recognizer.registry import lazy_getattr

# class name -> module of this package that defines it
_MODULES = {
    "MLP": "mlp",
    "CNN": "cnn",
    "LineCNNSimple": "line_cnn_simple",
    "LineCNN": "line_cnn",
    "LineCNNTransformer": "line_cnn_transformer",
    "ResnetTransformer": "resnet_transformer",
    "LineCNNLSTM": "line_cnn_lstm",
}
__all__ = sorted(_MODULES)
__getattr__ = lazy_getattr(__name__, _MODULES)
