"""preprocessing (sequence, text, image), datasets from local Keras files, plot_model,
to_categorical and the scikit-learn wrappers."""
import importlib.util
import json
import os
import pickle

import numpy as np
import pytest

from graphnn import backend as K
from graphnn.preprocessing.image import (ImageDataGenerator, apply_transform,
                                         transform_matrix_offset_center)
from graphnn.preprocessing.sequence import make_sampling_table, pad_sequences, skipgrams
from graphnn.preprocessing.text import (Tokenizer, hashing_trick, one_hot,
                                        text_to_word_sequence)


# --- sequence -------------------------------------------------------------------------------------
def test_pad_sequences_padding_truncating_value_dtype():
    seqs = [[1], [1, 2], [1, 2, 3, 4]]
    np.testing.assert_array_equal(pad_sequences(seqs),
                                  [[0, 0, 0, 1], [0, 0, 1, 2], [1, 2, 3, 4]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=3, padding="post"),
                                  [[1, 0, 0], [1, 2, 0], [2, 3, 4]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=3, truncating="post", value=-1),
                                  [[-1, -1, 1], [-1, 1, 2], [1, 2, 3]])
    out = pad_sequences([[0.5, 1.5]], maxlen=3, dtype="float32", value=9.0)
    assert out.dtype == np.float32 and out.tolist() == [[9.0, 0.5, 1.5]]
    assert pad_sequences([[], [2]]).tolist() == [[0], [2]]
    with pytest.raises(ValueError, match="Padding type"):
        pad_sequences(seqs, padding="middle")
    with pytest.raises(ValueError, match="Truncating type"):
        pad_sequences(seqs, maxlen=2, truncating="middle")
    assert pad_sequences([np.ones((2, 3))], maxlen=3).shape == (1, 3, 3)


def test_skipgrams():
    couples, labels = skipgrams([1, 2, 3], vocabulary_size=10, window_size=1, seed=0)
    positives = sorted(tuple(c) for c, l in zip(couples, labels) if l == 1)
    assert positives == [(1, 2), (2, 1), (2, 3), (3, 2)]
    assert labels.count(0) == 4 and all(1 <= c[1] < 10 for c in couples)
    assert make_sampling_table(5).shape == (5,)


# --- text -----------------------------------------------------------------------------------------
TEXTS = ["The cat sat on the mat.", "The dog ate my homework!", "Cat, cat, CAT?"]


def test_text_to_word_sequence_and_hashing():
    assert text_to_word_sequence("Hello, World! it's") == ["hello", "world", "it's"]
    assert text_to_word_sequence("a-b", filters="", lower=False) == ["a-b"]
    codes = one_hot("the cat the", 10)
    assert len(codes) == 3 and codes[0] == codes[2] and all(1 <= c < 10 for c in codes)
    assert hashing_trick("cat", 7, "md5") == hashing_trick("Cat", 7, "md5")


def test_tokenizer_index_sequences_and_matrices():
    tok = Tokenizer(num_words=4)
    tok.fit_on_texts(TEXTS)
    assert tok.word_index["cat"] == 1 and tok.word_index["the"] == 2  # 4 cats, 3 thes
    assert tok.word_counts["cat"] == 4 and tok.word_docs["cat"] == 2 and tok.document_count == 3
    assert tok.texts_to_sequences(["the cat ate"]) == [[2, 1]]  # 'ate' is beyond num_words
    binary = tok.texts_to_matrix(["cat cat the"], mode="binary")
    assert binary.tolist() == [[0, 1, 1, 0]]
    assert tok.texts_to_matrix(["cat cat the"], mode="count").tolist() == [[0, 2, 1, 0]]
    np.testing.assert_allclose(tok.texts_to_matrix(["cat cat the"], mode="freq"),
                               [[0, 2 / 3, 1 / 3, 0]])
    tfidf = tok.texts_to_matrix(["cat cat the"], mode="tfidf")
    np.testing.assert_allclose(tfidf[0, 1], (1 + np.log(2)) * np.log(1 + 3 / (1 + 2)))
    keras1 = Tokenizer(nb_words=3)
    keras1.fit_on_texts(TEXTS)
    assert keras1.nb_words == 3 and keras1.texts_to_matrix(["the mat"]).shape == (1, 3)
    everything = Tokenizer(oov_token="<unk>")
    everything.fit_on_texts(TEXTS)
    assert everything.texts_to_sequences(["cat zebra"]) == [[2, 1]]
    with pytest.raises(ValueError, match="Unknown vectorization mode"):
        tok.texts_to_matrix(TEXTS, mode="nope")


# --- image ----------------------------------------------------------------------------------------
def images(n=6, h=5, w=4, c=2):
    return np.random.RandomState(0).rand(n, h, w, c).astype("float32") * 255


def test_apply_transform_shift_and_fill_modes():
    x = np.arange(12, dtype="float32").reshape(1, 3, 4)  # channels first, one channel
    shift = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 1]], dtype=float)  # source column + 1
    out = apply_transform(x, shift, channel_axis=0, fill_mode="constant", cval=-1)
    np.testing.assert_array_equal(out[0, :, :3], x[0, :, 1:])
    np.testing.assert_array_equal(out[0, :, 3], [-1, -1, -1])
    nearest = apply_transform(x, shift, channel_axis=0, fill_mode="nearest")
    np.testing.assert_array_equal(nearest[0, :, 3], x[0, :, 3])
    wrap = apply_transform(x, shift, channel_axis=0, fill_mode="wrap")
    np.testing.assert_array_equal(wrap[0, :, 3], x[0, :, 0])
    identity = transform_matrix_offset_center(np.eye(3), 3, 4)
    np.testing.assert_array_equal(apply_transform(x, identity, 0), x)


def test_image_data_generator_augmentations():
    x = images()
    flips = ImageDataGenerator(horizontal_flip=True, vertical_flip=True)
    for _ in range(5):
        out = flips.random_transform(x[0])
        assert any(np.array_equal(out, cand) for cand in
                   (x[0], x[0][:, ::-1], x[0][::-1], x[0][::-1, ::-1]))
    assert np.array_equal(ImageDataGenerator().random_transform(x[0]), x[0])
    moved = ImageDataGenerator(width_shift_range=0.5, height_shift_range=0.5, rotation_range=30,
                               zoom_range=0.2, shear_range=0.1, channel_shift_range=5.0)
    outs = [moved.random_transform(x[0], seed=s) for s in range(3)]
    assert all(o.shape == x[0].shape for o in outs) and not np.array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(moved.random_transform(x[0], seed=1), outs[1])
    scaled = ImageDataGenerator(rescale=1 / 255.0).standardize(x[0].copy())
    np.testing.assert_allclose(scaled, x[0] / 255.0, rtol=1e-6)
    sample = ImageDataGenerator(samplewise_center=True, samplewise_std_normalization=True)
    s = sample.standardize(x[0].copy())
    assert abs(s.mean()) < 1e-4 and abs(s.std() - 1) < 1e-3


def test_featurewise_statistics_and_flow():
    x = images(n=10)
    y = np.arange(10)
    gen = ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True)
    with pytest.raises(ValueError, match="hasn't been fit"):
        gen.standardize(x[0].copy())
    gen.fit(x)
    assert gen.mean.shape == (1, 1, 2)
    batches = [gen.flow(x, y, batch_size=4, shuffle=True, seed=3).next() for _ in range(1)]
    it = gen.flow(x, y, batch_size=4, shuffle=True, seed=3)
    assert len(it) == 3
    seen = []
    for _ in range(3):
        bx, by = next(it)
        seen += list(by)
        np.testing.assert_allclose(bx, (x[by] - gen.mean) / (gen.std + K.epsilon()), rtol=1e-4,
                                   atol=1e-4)
    assert sorted(seen) == list(range(10)) and [len(b) for b in (seen[:4], seen[8:])] == [4, 2]
    np.testing.assert_array_equal(batches[0][1], gen.flow(x, y, batch_size=4, seed=3).next()[1])
    plain = ImageDataGenerator().flow(x, batch_size=10, shuffle=False).next()
    np.testing.assert_array_equal(plain, x)
    whitened = ImageDataGenerator(zca_whitening=True)
    whitened.fit(x)
    assert whitened.standardize(x[0].copy()).shape == x[0].shape


# --- datasets -------------------------------------------------------------------------------------
def test_datasets_read_local_keras_files(tmp_path, monkeypatch):
    from graphnn.datasets import cifar10, imdb, mnist, reuters
    monkeypatch.setenv("GRAPHNN_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="'mnist.npz'.*" + str(tmp_path).replace(
            "\\", "\\\\") + ".*cannot download"):
        mnist.load_data()
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((3, 28, 28), "uint8"),
             y_train=np.arange(3, dtype="uint8"), x_test=np.ones((2, 28, 28), "uint8"),
             y_test=np.arange(2, dtype="uint8"))
    (xt, yt), (xe, ye) = mnist.load_data()
    assert xt.shape == (3, 28, 28) and ye.tolist() == [0, 1]
    seqs = np.empty(4, dtype=object)
    seqs[:] = [[1, 2, 3], [4, 5], [6], [7, 8, 9, 10, 11]]
    np.savez(tmp_path / "imdb.npz", x_train=seqs, y_train=np.array([0, 1, 0, 1]),
             x_test=seqs[:2], y_test=np.array([1, 0]))
    (xt, yt), (xe, ye) = imdb.load_data(num_words=8, maxlen=5)
    assert len(xt) == 3 and all(s[0] == 1 for s in xt) and all(max(s) < 8 for s in xt)
    assert all(w == 2 or w >= 3 for s in xt for w in s[1:])  # shifted by index_from, oov = 2
    np.savez(tmp_path / "reuters.npz", x=seqs, y=np.array([3, 1, 2, 0]))
    (xt, yt), (xe, ye) = reuters.load_data(test_split=0.25)
    assert len(xt) == 3 and len(xe) == 1
    with open(tmp_path / "reuters_word_index.json", "w") as f:
        json.dump({"the": 1}, f)
    assert reuters.get_word_index() == {"the": 1}
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    for name in ["data_batch_%d" % i for i in range(1, 6)] + ["test_batch"]:
        with open(root / name, "wb") as f:
            pickle.dump({b"data": np.zeros((2, 3072), "uint8"), b"labels": [1, 2]}, f)
    (xt, yt), (xe, ye) = cifar10.load_data()
    assert xt.shape == (10, 32, 32, 3) and yt.shape == (10, 1) and xe.shape == (2, 32, 32, 3)


# --- utils ----------------------------------------------------------------------------------------
def test_to_categorical_locations():
    from graphnn.utils import to_categorical
    from graphnn.utils.np_utils import to_categorical as np_to_categorical
    assert to_categorical is np_to_categorical
    np.testing.assert_array_equal(to_categorical([2, 0], num_classes=3), [[0, 0, 1], [1, 0, 0]])


def test_plot_model_writes_dot(tmp_path, monkeypatch):
    from graphnn.layers import Dense, Input
    from graphnn.models import Model, Sequential
    from graphnn.utils import plot_model
    from graphnn.utils import vis_utils
    K.clear_session()
    model = Sequential([Dense(3, input_dim=2, name="hidden"), Dense(1, name="out")])
    dot_path = plot_model(model, to_file=str(tmp_path / "m.dot"), show_shapes=True)
    text = open(dot_path).read()
    assert text.startswith("digraph G {") and "hidden: Dense" in text and "(?, 3)" in text
    assert text.count("->") == 2  # input -> hidden -> out
    inp = Input(shape=(2,))
    shared = Dense(2, name="shared")
    functional = Model(inp, shared(shared(inp)))
    assert "shared: Dense" in vis_utils.model_to_dot(functional)
    monkeypatch.setattr(vis_utils.shutil, "which", lambda name: None)
    with pytest.warns(UserWarning, match="`dot` program was not found.*m2.dot"):
        out = plot_model(model, to_file=str(tmp_path / "m2.png"))
    assert out.endswith("m2.dot") and os.path.exists(out)
    assert not os.path.exists(tmp_path / "m2.png")


# --- scikit-learn wrappers ------------------------------------------------------------------------
def test_scikit_learn_wrappers():
    from graphnn.layers import Dense
    from graphnn.models import Sequential
    from graphnn.wrappers.scikit_learn import KerasClassifier, KerasRegressor
    K.clear_session()
    rng = np.random.RandomState(0)
    x = rng.randn(60, 4).astype("float32")
    labels = np.array(["a", "b", "c"])[(x[:, 0] > 0).astype(int) + (x[:, 1] > 1)]

    def build(hidden=6):
        model = Sequential([Dense(hidden, input_dim=4, activation="relu"),
                            Dense(3, activation="softmax")])
        model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
        return model
    clf = KerasClassifier(build, hidden=6, epochs=3, batch_size=20, verbose=0)
    clf.fit(x, labels)
    assert set(clf.predict(x)) <= {"a", "b", "c"} and clf.predict_proba(x).shape == (60, 3)
    assert 0.0 <= clf.score(x, labels) <= 1.0
    assert clf.get_params()["hidden"] == 6
    with pytest.raises(ValueError, match="not a legal parameter"):
        KerasClassifier(build, nope=1)

    def build_reg():
        model = Sequential([Dense(1, input_dim=4)])
        model.compile("sgd", "mse")
        return model
    reg = KerasRegressor(build_reg, epochs=2, verbose=0)
    reg.fit(x, x[:, 0])
    assert reg.predict(x).shape == (60,) and reg.score(x, x[:, 0]) <= 0.0
    if importlib.util.find_spec("sklearn") is None:
        pytest.skip("scikit-learn is not installed")
    from sklearn.base import clone
    assert clone(clf).get_params()["epochs"] == 3
