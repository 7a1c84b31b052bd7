"""scikit-learn estimators around a model-building function (Keras ``wrappers.scikit_learn``).

scikit-learn itself is not imported: the wrappers follow its estimator protocol
(``get_params``/``set_params``/``fit``/``predict``/``score``), so ``clone``, ``cross_val_score``
or ``GridSearchCV`` work when scikit-learn is installed, and nothing needs it otherwise.
"""
from __future__ import annotations

import copy
import inspect
import types
from typing import Any, Callable, Dict, Optional

import numpy as np

from ..utils.np_utils import to_categorical


def _has_arg(fn: Callable, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


class BaseWrapper:
    """``build_fn`` returns a compiled model; ``sk_params`` are its arguments and those of
    ``fit`` / ``predict`` / ``evaluate`` (e.g. ``epochs``, ``batch_size``)."""

    def __init__(self, build_fn: Optional[Callable] = None, **sk_params):
        self.build_fn = build_fn
        self.sk_params = sk_params
        self.check_params(sk_params)

    def _legal_fns(self):
        from ..models import Sequential
        fns = [Sequential.fit, Sequential.predict, Sequential.predict_classes,
               Sequential.evaluate]
        if self.build_fn is None:
            fns.append(self.__call__)
        elif not isinstance(self.build_fn, types.FunctionType) and \
                not isinstance(self.build_fn, types.MethodType):
            fns.append(self.build_fn.__call__)
        else:
            fns.append(self.build_fn)
        return fns

    def check_params(self, params: Dict[str, Any]) -> None:
        fns = self._legal_fns()
        for name in params:
            if not any(_has_arg(fn, name) for fn in fns):
                if name != "nb_epoch":
                    raise ValueError("{} is not a legal parameter".format(name))

    def get_params(self, **params) -> Dict[str, Any]:
        res = copy.deepcopy(self.sk_params)
        res.update({"build_fn": self.build_fn})
        return res

    def set_params(self, **params) -> "BaseWrapper":
        self.check_params(params)
        self.sk_params.update(params)
        return self

    def filter_sk_params(self, fn: Callable, override: Optional[Dict] = None) -> Dict[str, Any]:
        override = override or {}
        res = {k: v for k, v in self.sk_params.items() if _has_arg(fn, k)}
        res.update(override)
        return res

    def _build(self):
        if self.build_fn is None:
            return self.__call__(**self.filter_sk_params(self.__call__))
        if not isinstance(self.build_fn, (types.FunctionType, types.MethodType)):
            return self.build_fn(**self.filter_sk_params(self.build_fn.__call__))
        return self.build_fn(**self.filter_sk_params(self.build_fn))

    def fit(self, x, y, **kwargs):
        self.model = self._build()
        loss = self.model.loss
        loss_name = getattr(loss, "__name__", loss)
        y = np.asarray(y)
        if loss_name == "categorical_crossentropy" and y.ndim != 2:
            y = to_categorical(y)
        from ..models import Sequential
        fit_args = self.filter_sk_params(Sequential.fit, kwargs)
        history = self.model.fit(x, y, **fit_args)
        return history


class KerasClassifier(BaseWrapper):
    """Classes may be any labels: they are mapped to 0..n-1 for the model and back."""

    def fit(self, x, y, sample_weight=None, **kwargs):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] > 1:
            self.classes_ = np.arange(y.shape[1])
        elif (y.ndim == 2 and y.shape[1] == 1) or y.ndim == 1:
            self.classes_, y = np.unique(y, return_inverse=True)
        else:
            raise ValueError("Invalid shape for y: " + str(y.shape))
        self.n_classes_ = len(self.classes_)
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        return super().fit(x, y, **kwargs)

    def predict(self, x, **kwargs):
        from ..models import Sequential
        kwargs = self.filter_sk_params(Sequential.predict_classes, kwargs)
        proba = self.model.predict(x, **kwargs)
        classes = proba.argmax(axis=-1) if proba.shape[-1] > 1 else \
            (proba > 0.5).astype("int32").ravel()
        return self.classes_[classes]

    def predict_proba(self, x, **kwargs):
        from ..models import Sequential
        kwargs = self.filter_sk_params(Sequential.predict, kwargs)
        probs = self.model.predict(x, **kwargs)
        if probs.shape[1] == 1:  # a single sigmoid: scikit-learn wants one column per class
            probs = np.hstack([1 - probs, probs])
        return probs

    def score(self, x, y, **kwargs) -> float:
        """Accuracy: the model must be compiled with ``metrics=['accuracy']``."""
        from ..models import Sequential
        y = np.searchsorted(self.classes_, np.asarray(y))
        kwargs = self.filter_sk_params(Sequential.evaluate, kwargs)
        loss_name = getattr(self.model.loss, "__name__", self.model.loss)
        if loss_name == "categorical_crossentropy" and y.ndim != 2:
            y = to_categorical(y, self.n_classes_)
        outputs = self.model.evaluate(x, y, **kwargs)
        outputs = outputs if isinstance(outputs, list) else [outputs]
        for name, output in zip(self.model.metrics_names, outputs):
            if name in ("acc", "accuracy"):
                return float(output)
        raise ValueError("The model is not configured to compute accuracy. You should pass "
                         "`metrics=[\"accuracy\"]` to the `model.compile()` method.")


class KerasRegressor(BaseWrapper):
    def predict(self, x, **kwargs):
        from ..models import Sequential
        kwargs = self.filter_sk_params(Sequential.predict, kwargs)
        return np.squeeze(self.model.predict(x, **kwargs), axis=-1)

    def score(self, x, y, **kwargs) -> float:
        """The negated loss (scikit-learn maximizes scores)."""
        from ..models import Sequential
        kwargs = self.filter_sk_params(Sequential.evaluate, kwargs)
        loss = self.model.evaluate(x, y, **kwargs)
        return -float(loss[0] if isinstance(loss, list) else loss)
