"""Loading and checking classifiers, and their own reference scores (the truth the encoders must match).

Score spaces (the ``kind`` shared with :mod:`milp_recourse.encode.classifier_registry`):
``'logit'`` log-odds of the target class, ``'probability'`` its predicted probability,
``'decision'`` a signed margin whose favourable side is ``>= 0``.
"""

from __future__ import annotations

import copy
import math
import numbers
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy.special import expit

from milp_recourse.errors import ClassifierError, InputError, describe
from milp_recourse.models.registry import SCORE_KINDS, is_supported, library_hooks, score_kind, supported_types
from milp_recourse.models.relu_network import ReLUNetwork, _as_2d
from milp_recourse.models.sklearn_types import is_a

JOBLIB_SUFFIXES = (".joblib", ".pkl", ".pickle")
LIBRARY_SUFFIXES = {".json": "xgboost", ".ubj": "xgboost", ".txt": "lightgbm"}   # the libraries' own model files
PIPELINE_SCALERS = ("StandardScaler", "MinMaxScaler")   # scikit-learn class names (models/sklearn_types.py)


def _is_skip(step: object) -> bool:
    """A Pipeline step that does nothing (None or 'passthrough')."""
    return step is None or (isinstance(step, str) and step == "passthrough")


# loading -------------------------------------------------------------------------------------
def load_classifier(path: str | Path) -> object:
    """A classifier from .npz (ReLUNetwork), .joblib/.pkl/.pickle (joblib; only load trusted files) or an XGBoost
    (.json, .ubj) / LightGBM (.txt) model file saved by the library's own save_model (loaded as a Booster)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npz", *JOBLIB_SUFFIXES, *LIBRARY_SUFFIXES):
        raise ClassifierError(f"Classifier file '{path}' has extension {suffix!r}; expected one of "
                              f".npz, {', '.join(JOBLIB_SUFFIXES)}, {', '.join(LIBRARY_SUFFIXES)}.")
    if not path.is_file():
        raise ClassifierError(f"Classifier file '{path}' does not exist.")
    if suffix in LIBRARY_SUFFIXES:
        return _load_library_file(path, LIBRARY_SUFFIXES[suffix])
    if suffix == ".npz":
        return ReLUNetwork.from_npz(path)
    import joblib

    try:
        return joblib.load(path)
    except Exception as exc:  # unpickling raises many types; all mean "unreadable"
        raise ClassifierError(f"Could not read classifier file '{path}' with joblib: "
                              f"{type(exc).__name__}: {exc}") from None


def _load_library_file(path: Path, library: str) -> object:
    """A Booster from the library's own model file (xgboost_trees / lightgbm_trees.load_model_file)."""
    import importlib

    try:
        module = importlib.import_module(f"milp_recourse.models.{library}_trees")
    except ImportError:
        raise ClassifierError(f"Classifier file '{path}' is read with {library}, which is not installed; install "
                              f"it with pip install 'milp_recourse[{library}]'.") from None
    return module.load_model_file(path)


# validation ----------------------------------------------------------------------------------
def _check_fitted(model: object) -> None:
    fitted = getattr(model, "__sklearn_is_fitted__", None)
    if callable(fitted) and hasattr(model, "fit") and fitted():   # what check_is_fitted asks first (no import)
        return
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except TypeError as exc:
        raise ClassifierError(f"{describe(model)} is not a scikit-learn estimator: {exc}") from None
    except Exception as exc:  # NotFittedError
        raise ClassifierError(f"{type(model).__name__} is not fitted; call fit(X, y) before using it "
                              f"for recourse. ({exc})") from None


def _check_estimator(model: object) -> None:
    if not is_supported(type(model)):
        raise ClassifierError(f"{type(model).__name__} is not supported. Supported classifiers: "
                              f"{', '.join(supported_types())}.")
    if _check_library_family(model, sklearn_checked=False):
        return
    _check_fitted(model)
    classes = getattr(model, "classes_", None)
    if classes is None or len(classes) != 2:
        shown = None if classes is None else list(np.asarray(classes).tolist())
        raise ClassifierError(f"{type(model).__name__} has classes {shown}; only binary classifiers "
                              "(exactly 2 classes) are supported.")
    if is_a(model, "MLPClassifier"):
        if model.activation != "relu":
            raise ClassifierError(f"MLPClassifier with activation={model.activation!r} is not supported; only "
                                  "'relu' networks can be encoded exactly.")
        if getattr(model, "out_activation_", "logistic") != "logistic":
            raise ClassifierError(f"MLPClassifier with out_activation_={model.out_activation_!r} is not supported; "
                                  "expected a binary 'logistic' output.")
    if is_a(model, "GradientBoostingClassifier"):
        if model.loss != "log_loss":
            raise ClassifierError(f"GradientBoostingClassifier with loss={model.loss!r} is not supported; "
                                  "expected loss='log_loss' (its raw score is the log-odds).")
        init = model.init_
        if not (isinstance(init, str) and init == "zero") and not (
                is_a(init, "DummyClassifier") and init.strategy in ("prior", "most_frequent")):
            raise ClassifierError(f"GradientBoostingClassifier with init={describe(init)} is not supported; "
                                  "expected the default (prior) init or 'zero'.")
    if getattr(model, "n_outputs_", 1) != 1:
        raise ClassifierError(f"{type(model).__name__} has n_outputs_={model.n_outputs_}; expected 1.")
    _check_library_family(model, sklearn_checked=True)


def _is_column_transformer(step: object, name: str) -> bool:
    """True for a supported ColumnTransformer step (checked here); raises ClassifierError for an unsupported one."""
    if not is_a(step, "ColumnTransformer"):
        return False
    from milp_recourse.models.column_transformer import check_column_transformer

    check_column_transformer(step, name)
    return True


# families with library hooks (HistGradientBoosting, XGBoost, LightGBM; see models.registry.LibraryHooks) ----
def _check_library_family(model: object, sklearn_checked: bool) -> bool:
    """Run the family's own checks at their turn; True when they replace the scikit-learn ones entirely."""
    hooks = library_hooks(model)
    if hooks is None or hooks.sklearn_api != sklearn_checked:
        return False
    hooks.validate(model)
    return True


def _hooked_score(model: object, X: Any, which: str) -> np.ndarray | None:
    """The library's own positive_logit / positive_proba of (the final step of) model, or None without a hook."""
    final, Xt = model, X
    if is_a(model, "Pipeline"):
        final = model.steps[-1][1]
    hooks = library_hooks(final)
    fn = None if hooks is None else getattr(hooks, which)
    if fn is None:
        return None
    if final is not model:
        Xt = model[:-1].transform(X)
        Xt = Xt.toarray() if hasattr(Xt, "toarray") else Xt   # a ColumnTransformer with OneHotEncoder may be sparse
    return np.asarray(fn(final, np.asarray(Xt, dtype=float)), dtype=float).ravel()


def _takes_array(model: object) -> bool:
    """Families whose score hooks take the plain array (they build the library's own input themselves)."""
    hooks = library_hooks(model)
    return hooks is not None and hooks.positive_logit is not None


def _check_pipeline(model: Any) -> None:
    *pre, (last_name, last) = model.steps
    for name, step in pre:
        if _is_skip(step):
            continue
        if _is_column_transformer(step, name):
            continue
        if not is_a(step, *PIPELINE_SCALERS):
            raise ClassifierError(f"Pipeline step {name!r} is {type(step).__name__}; only StandardScaler, "
                                  "MinMaxScaler and a ColumnTransformer of them may precede the classifier "
                                  "(they are affine and encode exactly).")
        _check_fitted(step)
        if is_a(step, "MinMaxScaler") and step.clip:
            raise ClassifierError(f"Pipeline step {name!r} is MinMaxScaler(clip=True); expected clip=False "
                                  "(clipping is not affine).")
    if _is_skip(last) or isinstance(last, str):
        raise ClassifierError(f"Pipeline's last step {last_name!r} is {last!r}; expected a classifier.")
    validate_classifier(last)


def validate_classifier(model: object) -> None:
    """Raise ClassifierError unless model is a fitted, binary classifier we can encode exactly."""
    if is_a(model, "Pipeline"):
        _check_pipeline(model)
    else:
        _check_estimator(model)


# features ------------------------------------------------------------------------------------
def _input_attr(model: object, name: str) -> Any:
    """An input-side fitted attribute (feature_names_in_, n_features_in_), looked up through Pipelines."""
    value = getattr(model, name, None)
    if value is None and is_a(model, "Pipeline"):
        first = next((step for _, step in model.steps if not _is_skip(step)), None)
        return None if first is None else _input_attr(first, name)
    return value


def _feature_names(model: object) -> tuple[str, ...] | None:
    hooks = library_hooks(model)
    if hooks is not None and hooks.feature_names is not None:
        return hooks.feature_names(model)
    names = _input_attr(model, "feature_names_in_")
    return None if names is None else tuple(str(n) for n in names)


def n_features(model: object) -> int:
    """Number of input features the (possibly pipelined) model expects."""
    hooks = library_hooks(model)
    if hooks is not None and hooks.n_features is not None:
        return int(hooks.n_features(model))
    n = _input_attr(model, "n_features_in_")
    if n is None:
        raise ClassifierError(f"{type(model).__name__} has no n_features_in_; is it fitted?")
    return int(n)


def mlp_layers(model: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """A fitted MLPClassifier's layers as (W of shape (out, in), b), ReLUNetwork's layout (coefs_[k] is (in, out))."""
    return [(np.asarray(W, float).T, np.asarray(c, float)) for W, c in zip(model.coefs_, model.intercepts_)]


def _unsanitized(names: tuple[str, ...], scm: list[str]) -> tuple[str, ...]:
    """LightGBM stores whitespace in column names as '_': map such a name back to the one SCM variable it names."""
    known = set(scm)
    if all(n in known for n in names):   # the usual case: nothing to map back (and no per-name scan of the SCM)
        return tuple(names)
    sanitized: dict[str, list[str]] = {}
    for v in scm:
        sanitized.setdefault("".join("_" if c.isspace() else c for c in v), []).append(v)
    return tuple(n if n in known or len(sanitized.get(n, ())) != 1 else sanitized[n][0] for n in names)


def _named_features(model: object, scm: list[str]) -> tuple[str, ...] | None:
    """The model's input names mapped onto SCM variables (None: it has no names); raise for any other name."""
    names = _feature_names(model)
    if names is None:
        return None
    names = _unsanitized(names, scm)
    unknown = [n for n in names if n not in scm]
    if unknown:
        raise ClassifierError(f"The classifier's input feature(s) {unknown} are not SCM variables; "
                              f"the SCM has {scm}.")
    if len(set(names)) != len(names):
        raise ClassifierError(f"The classifier's feature names {list(names)} contain duplicates.")
    return names


def validate_for_scm(model: object, scm_names: Sequence[str]) -> None:
    """validate_classifier, whose refusal also names the model's inputs the SCM lacks: an encoder on a column
    the SCM does not have is 'not supported without levels', which alone would hide the cause."""
    try:
        validate_classifier(model)
    except ClassifierError as exc:
        try:
            _named_features(model, [str(s) for s in scm_names])
        except ClassifierError as names:
            raise ClassifierError(f"{names} (Also: {exc})") from None
        raise


def classifier_features(model: object, scm_names: Sequence[str]) -> tuple[str, ...]:
    """The SCM variables the model reads, in the model's column order."""
    scm = [str(s) for s in scm_names]
    names = _named_features(model, scm)
    if names is not None:
        return names
    n = n_features(model)
    if n != len(scm):
        raise ClassifierError(f"The classifier expects {n} input features but the SCM has {len(scm)} variables "
                              f"{scm}; without feature names the SCM order is used, so the counts must match "
                              "(or fit the classifier on a DataFrame with named columns).")
    return tuple(scm)


# reference scores ----------------------------------------------------------------------------
def target_index(model: object, target_class: object = None) -> int:
    """Position (0 or 1) of the favourable class in model.classes_ (default: classes_[1])."""
    classes = np.asarray(getattr(model, "classes_", [0, 1]))
    if target_class is None:
        return 1
    hits = np.flatnonzero(classes == target_class)
    if hits.size != 1:
        raise InputError(f"target_class={target_class!r} is not one of the classifier's classes "
                         f"{classes.tolist()}.")
    return int(hits[0])


def _model_input(model: object, X: Any) -> Any:
    """X as the model wants it: a DataFrame with its feature names when it was fitted on one."""
    arr = _as_2d(X, n_features(model), type(model).__name__)
    names = _feature_names(model)
    if names is not None and not isinstance(model, ReLUNetwork) and not _takes_array(model):
        import pandas as pd

        return pd.DataFrame(arr, columns=list(names))
    return arr


def _positive_logit(model: object, X: Any) -> np.ndarray:
    """Log-odds of classes_[1] from the model's own computation."""
    hooked = _hooked_score(model, X, "positive_logit")
    if hooked is not None:
        return hooked
    if hasattr(model, "decision_function"):
        return np.asarray(model.decision_function(X), dtype=float).ravel()
    final, Xt = model, X
    if is_a(model, "Pipeline"):
        final, Xt = model.steps[-1][1], model[:-1].transform(X)
    p = np.asarray(model.predict_proba(X), dtype=float)[:, 1]
    if is_a(final, "MLPClassifier"):
        # sklearn's own forward pass with the output sigmoid switched off yields the exact logit
        raw_model = copy.copy(final)
        raw_model.out_activation_ = "identity"
        raw = np.asarray(raw_model.predict_proba(Xt), dtype=float)[:, 1]
        if np.allclose(expit(raw), p, rtol=0.0, atol=1e-12):
            return raw
    with np.errstate(divide="ignore"):
        return np.log(p) - np.log1p(-p)


def reference_score(model: object, X: np.ndarray, target_class: object = None) -> tuple[np.ndarray, str]:
    """The model's own score of the target class on X (columns in classifier_features order), and its kind."""
    idx = target_index(model, target_class)
    kind = score_kind(model)
    Xm = _model_input(model, X)
    if kind == "probability":
        return np.asarray(model.predict_proba(Xm), dtype=float)[:, idx], kind
    sign = 1.0 if idx == 1 else -1.0
    if kind == "logit":
        return sign * _positive_logit(model, Xm), kind
    return sign * np.asarray(model.decision_function(Xm), dtype=float).ravel(), kind


def _check_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0.0 < float(threshold) < 1.0:
        raise InputError(f"The 'threshold' must be a float in (0, 1). Got {describe(threshold)}.")
    return float(threshold)


def strict_at_threshold(model: object, threshold: float, target_class: object = None) -> bool:
    """Whether a score exactly on the threshold is denied: at 0.5 the estimator's predict gives a tie to the first
    class, so the target classes_[1] needs more than 0.5 (favourable; solver/answer_rules.at_the_threshold)."""
    return threshold == 0.5 and target_index(model, target_class) == 1


def favourable(model: object, X: np.ndarray, threshold: float = 0.5, target_class: object = None) -> np.ndarray:
    """Whether the model itself gives the target class: predict_proba >= threshold, else decision >= 0.

    At the threshold 0.5 a tie is settled as the estimator's own predict settles it (argmax, the first class
    wins; XGBoost / LightGBM / decision functions: class 1 only strictly above 0.5 / 0): a tree leaf holding
    one sample of each class is denied by predict, so it is not favourable here either."""
    threshold = _check_threshold(threshold)
    idx = target_index(model, target_class)
    Xm = _model_input(model, X)
    hooked = _hooked_score(model, Xm, "positive_proba")
    if hooked is not None:
        if strict_at_threshold(model, threshold, target_class):   # a tie goes to class 0
            return hooked > 0.5
        return (hooked if idx == 1 else 1.0 - hooked) >= threshold
    if hasattr(model, "predict_proba"):
        P = np.asarray(model.predict_proba(Xm), dtype=float)
        if threshold == 0.5 and P.shape[1] == 2:   # predict's argmax on the same numbers
            return P[:, 1] > P[:, 0] if idx == 1 else P[:, 0] >= P[:, 1]
        return P[:, idx] >= threshold
    d = np.asarray(model.decision_function(Xm), dtype=float).ravel()
    return d > 0.0 if idx == 1 else -d >= 0.0


def score_threshold(kind: str, threshold: float) -> float:
    """The score value at which the favourable outcome starts, in the encoder's score space."""
    threshold = _check_threshold(threshold)
    if kind == "logit":
        return math.log(threshold) - math.log1p(-threshold)
    if kind == "probability":
        return threshold
    if kind == "decision":
        return 0.0
    raise InputError(f"Unknown score kind {kind!r}; expected one of {list(SCORE_KINDS)}.")


__all__ = ["ReLUNetwork", "mlp_layers", "load_classifier", "validate_classifier", "classifier_features",
           "validate_for_scm", "n_features", "target_index", "reference_score", "favourable",
           "strict_at_threshold", "score_threshold", "SCORE_KINDS"]
