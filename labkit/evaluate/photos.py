"""Your own photos through the paper's test pipeline (notebook 09): detect, align, embed, compare all pairs.

Sec. 4.1 of the paper: MTCNN finds each face and its 5 landmarks, a similarity transform maps them onto the
112x96 template, the crop and its mirror image are embedded and concatenated, and two faces are compared by the
cosine of those features; "same person" means the cosine is above the model's threshold (calibrated on stated
pairs, :mod:`labkit.evaluate.calibrate`).

- :func:`shipped_photos`: the six LFW photos of ``data/shipped/photos`` (no download needed);
- :func:`read_photos`: files or uploaded bytes -> :class:`PhotoFace` (photo, largest face, its crop); a photo
  without a face keeps the documented centre crop (:func:`labkit.data.align.center_crop`) and says so;
- :func:`similarity_matrix` / :func:`decisions`: every pair's cosine and verdict;
- :func:`photo_figure`, :func:`similarity_figure`: the drawings (plotly; colours from :mod:`labkit.palette`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labkit import config
from labkit.palette import OKABE_ITO

LANDMARK_NAMES = ("left eye", "right eye", "nose", "left mouth corner", "right mouth corner")
LANDMARK_COLOURS = tuple(OKABE_ITO[k] for k in ("blue", "vermillion", "green", "purple", "orange"))


def shipped_photos() -> list[Path]:
    """The photos shipped in ``data/shipped/photos`` (sorted by name; see the README there for their source)."""
    return sorted((config.shipped_dir() / "photos").glob("*.jpg"))


@dataclass
class PhotoFace:
    """One photo and what the pipeline made of it: ``face`` is the largest detected face (``None``: no face found,
    ``crop`` is then the centre-crop fallback), ``n_faces`` how many faces were found."""

    name: str
    image: np.ndarray
    crop: np.ndarray
    face: Any
    n_faces: int

    def describe(self) -> str:
        if self.face is None:
            return f"{self.name}: no face found, the centre crop stands in (expect a poor score)"
        w, h = self.face.box[2] - self.face.box[0], self.face.box[3] - self.face.box[1]
        return (f"{self.name}: {self.image.shape[1]}x{self.image.shape[0]} photo, {self.n_faces} face(s) found; the "
                f"largest ({w:.0f}x{h:.0f} px, detector score {self.face.score:.3f}) is aligned")


def _one(photo: np.ndarray, name: str) -> PhotoFace:
    from labkit import faces

    try:
        got = faces.align_photo(photo, name=name)
        return PhotoFace(name, got.image, got.crop, got.face, int(got.n_faces))
    except faces.NoFaceError:
        crop, _ = faces.crop_or_center(photo)
        return PhotoFace(name, photo, crop, None, 0)


def read_photos(sources: Sequence[str | Path | tuple[str, bytes]]) -> list[PhotoFace]:
    """Each source (a file path, or ``(name, bytes)`` as uploaded) read with :func:`labkit.faces.load_photo`
    (EXIF orientation applied), its largest face aligned (:func:`labkit.faces.align_photo`)."""
    from labkit import faces

    out = []
    for src in sources:
        if isinstance(src, tuple):
            name, data = src
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / Path(name).name
                path.write_bytes(bytes(data))
                image = faces.load_photo(path)
        else:
            name, image = Path(src).name, faces.load_photo(src)
        out.append(_one(image, name))
    return out


def uploaded_files(value: Any) -> list[tuple[str, bytes]]:
    """``(name, bytes)`` of each file in an ``ipywidgets.FileUpload`` value (a tuple of dicts in ipywidgets 8, a
    dict by name in 7)."""
    items = value.values() if isinstance(value, dict) else value
    out = []
    for item in items:
        name = item.get("name") or item.get("metadata", {}).get("name", "upload")
        out.append((str(name), bytes(item["content"])))
    return out


def embed_photos(model, photos: Sequence[PhotoFace], device: str | None = None) -> np.ndarray:
    """Features of the photos' crops with the paper's test-time flip (concatenated), one row per photo."""
    import torch

    from labkit.data.images import to_tensor
    from labkit.evaluate.features import embed_batches

    return embed_batches(model, torch.stack([to_tensor(p.crop) for p in photos]), flip="concat", device=device)


def similarity_matrix(features: np.ndarray) -> np.ndarray:
    """Cosine of every pair of rows: ``S[i, j] = <f_i, f_j> / (|f_i| |f_j|)`` (float64, symmetric, unit diagonal)."""
    x = np.asarray(features, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if (norms <= 1e-12).any():
        raise ValueError(f"feature row {int(np.flatnonzero(norms.reshape(-1) <= 1e-12)[0])} is all zeros: its "
                         "cosine is undefined")
    x = x / norms
    s = x @ x.T
    return np.clip((s + s.T) / 2.0, -1.0, 1.0)


def decisions(similarity: np.ndarray, threshold: float) -> np.ndarray:
    """``similarity > threshold`` (the verification rule): True where a pair is called the same person."""
    return np.asarray(similarity) > threshold


def pair_lines(photos: Sequence[PhotoFace], similarity: np.ndarray, threshold: float) -> list[str]:
    """One line per pair of photos (i < j): names, cosine and the decision at ``threshold``."""
    out = []
    for i in range(len(photos)):
        for j in range(i + 1, len(photos)):
            s = similarity[i, j]
            verdict = "same" if s > threshold else "different"
            out.append(f"{photos[i].name} vs {photos[j].name}: cosine {s:.3f} -> {verdict}")
    return out


def _data_uri(img: np.ndarray) -> str:
    """A JPEG data URI of ``img`` (a few KB, where pixel lists would put ~1 MB of JSON in the notebook)."""
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(img, dtype=np.uint8)).save(buf, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def photo_figure(photo: PhotoFace):
    """The photo with its largest face's box and 5 landmarks drawn, and the aligned 112x96 crop beside it."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    h, w = photo.image.shape[:2]
    title = "no face found: centre crop" if photo.face is None else "aligned 112x96 crop"
    fig = make_subplots(rows=1, cols=2, column_widths=[0.68, 0.32],
                        subplot_titles=(f"{photo.name} ({photo.n_faces} face(s) found)", title))
    fig.add_trace(go.Image(source=_data_uri(photo.image), hoverinfo="skip"), row=1, col=1)
    fig.add_trace(go.Image(source=_data_uri(photo.crop), hoverinfo="skip"), row=1, col=2)
    if photo.face is not None:
        x1, y1, x2, y2 = (float(v) for v in photo.face.box)
        fig.add_shape(type="rect", x0=x1, y0=y1, x1=x2, y1=y2, line={"color": OKABE_ITO["yellow"], "width": 2},
                      row=1, col=1)
        for (x, y), name, colour in zip(photo.face.landmarks, LANDMARK_NAMES, LANDMARK_COLOURS):
            fig.add_trace(go.Scatter(x=[float(x)], y=[float(y)], mode="markers", name=name,
                                     marker={"color": colour, "size": 9, "line": {"color": "white", "width": 1}}),
                          row=1, col=1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(height=max(260, int(320 * h / max(w, 1))), width=640, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend={"orientation": "h", "y": -0.05})
    return fig


def similarity_figure(photos: Sequence[PhotoFace], similarity: np.ndarray, threshold: float, title: str = ""):
    """Heatmap of the cosines, each cell labelled with its value and the decision at ``threshold``."""
    import plotly.graph_objects as go

    names = [p.name.rsplit(".", 1)[0] for p in photos]
    same = decisions(similarity, threshold)
    text = [[f"{similarity[i, j]:.2f}<br>{'same' if same[i, j] else 'diff'}" for j in range(len(names))]
            for i in range(len(names))]
    fig = go.Figure(go.Heatmap(z=similarity, x=names, y=names, text=text, texttemplate="%{text}", zmin=-1, zmax=1,
                               colorscale=[[0, OKABE_ITO["blue"]], [0.5, "#ffffff"], [1, OKABE_ITO["vermillion"]]],
                               colorbar={"title": "cosine"}))
    fig.update_layout(title=title or f"cosine of every pair; 'same' means above {threshold:.3f}", width=640,
                      height=560, yaxis={"autorange": "reversed"})
    return fig


def model_names() -> list[str]:
    """The registered model names (aliases left out), e.g. ``["lab", "reference"]`` when both are installed."""
    from labkit import zoo

    return [n.split(" ")[0] for n in zoo.names()]


def untrained_model(seed: int = 0):
    """A seeded, untrained lab network (``SmallCNN`` at 56x48, 128-d) as a :class:`labkit.zoo.FaceModel`: what the
    notebook falls back to where no trained model is installed, so that every step still runs. Its scores say
    nothing about who is who; its card says so, and it has no threshold (0 is used and printed)."""
    import torch

    from labkit import zoo
    from labkit.models import SmallCNN

    torch.manual_seed(seed)
    net = SmallCNN(input_size=(56, 48), channels=(16, 32, 64, 64), hidden=128, feat_dim=128)
    card = zoo.ModelCard(name="untrained", description=f"untrained SmallCNN, seed {seed}: no identity knowledge",
                         threshold=0.0, threshold_source="not calibrated: an untrained network, 0 by convention")
    return zoo.FaceModel(net, card, (56, 48)).eval()


def person_of(name: str) -> str | None:
    """The person of a shipped photo from its LFW file name (``Kim_Clijsters_0002.jpg`` -> ``Kim_Clijsters``); ``None``
    for a name without the ``_NNNN`` suffix (an upload: who it shows is unknown)."""
    stem = name.rsplit(".", 1)[0]
    head, _, tail = stem.rpartition("_")
    return head if head and tail.isdigit() and len(tail) == 4 else None


def decision_summary(photos_: Sequence[PhotoFace], similarity: np.ndarray, threshold: float) -> dict[str, Any]:
    """Over the pairs whose two people are known (:func:`person_of`): how many, how many decided correctly at
    ``threshold``, and the mean cosine of the same-person and of the different-person pairs (NaN when none)."""
    who = [person_of(p.name) for p in photos_]
    same_s, diff_s, correct, n = [], [], 0, 0
    for i in range(len(who)):
        for j in range(i + 1, len(who)):
            if who[i] is None or who[j] is None:
                continue
            n += 1
            truth = who[i] == who[j]
            (same_s if truth else diff_s).append(similarity[i, j])
            correct += int((similarity[i, j] > threshold) == truth)
    return {"pairs": n, "correct": correct, "same_pairs": len(same_s), "different_pairs": len(diff_s),
            "mean_same": float(np.mean(same_s)) if same_s else float("nan"),
            "mean_different": float(np.mean(diff_s)) if diff_s else float("nan")}


def load_models(names: Sequence[str], device: str = "cpu") -> tuple[dict[str, Any], dict[str, str]]:
    """Load each named model (:func:`labkit.zoo.load_face_model`): ``(loaded, missing)``, ``missing`` mapping a
    name that could not be loaded here (weights not installed, ...) to the first line of the reason."""
    from labkit import zoo
    from labkit.config import DataMissingError

    loaded, missing = {}, {}
    for name in names:
        try:
            loaded[name] = zoo.load_face_model(name, device)
        except (DataMissingError, FileNotFoundError, ValueError) as exc:
            missing[name] = str(exc).splitlines()[0]
    return loaded, missing


@dataclass
class Comparison:
    """One model on a set of photos: the cosine matrix, the threshold used and where it comes from."""

    model: str
    similarity: np.ndarray
    threshold: float
    source: str


def compare(model, photos_: Sequence[PhotoFace], threshold: float | None = None) -> Comparison:
    """The similarity matrix of ``photos_`` under ``model`` and the threshold (``threshold``, else the model's
    calibrated one, else 0 with a note saying so)."""
    card = model.card
    if threshold is not None:
        t, src = float(threshold), "given as THRESHOLD"
    elif card.threshold is not None:
        t, src = float(card.threshold), card.threshold_source or "not stated"
    else:
        t, src = 0.0, "the model has no calibrated threshold: 0 used"
    return Comparison(card.name, similarity_matrix(embed_photos(model, photos_)), t, src)


def build_photo_explorer(models: dict[str, Any], start: Sequence[str] = ()):
    """Widgets: pick shipped photos (multi-select) and/or upload your own, choose a model, press *Compare*; the
    similarity matrix is drawn into an ``Output`` with :func:`labkit.notebooks.show_in_output` (never
    ``with output:``), the pair verdicts into another. Drawn once at construction for ``start`` (default: all
    shipped photos) with the first model. Returns the box to display."""
    import ipywidgets as w
    from IPython.display import HTML

    from labkit.notebooks import show_in_output

    shipped = {p.name: p for p in shipped_photos()}
    pick = w.SelectMultiple(options=list(shipped), value=tuple(start or shipped), rows=6, description="photos")
    upload = w.FileUpload(accept="image/*", multiple=True, description="upload")
    which = w.Dropdown(options=list(models), description="model")
    go_ = w.Button(description="Compare", button_style="primary")
    fig_out, text_out = w.Output(), w.Output()

    def draw(_=None) -> None:
        sources: list[Any] = [shipped[n] for n in pick.value] + uploaded_files(upload.value)
        if len(sources) < 2:
            show_in_output(text_out, HTML("<pre>pick or upload at least two photos</pre>"))
            return
        faces_ = read_photos(sources)
        c = compare(models[which.value], faces_)
        show_in_output(fig_out, similarity_figure(faces_, c.similarity, c.threshold,
                                                  f"{c.model}: 'same' means cosine above {c.threshold:.3f}"))
        lines = [p.describe() for p in faces_] + [""] + pair_lines(faces_, c.similarity, c.threshold)
        show_in_output(text_out, HTML("<pre>" + "\n".join(lines) + f"\n\nthreshold: {c.source}</pre>"))

    go_.on_click(draw)
    if models:
        draw()
    return w.VBox([w.HBox([pick, w.VBox([upload, which, go_])]), fig_out, text_out])


def training_overlap(model, people: Sequence[str], root: str | Path | None = None) -> str:
    """Whether ``people`` (LFW names) may be in ``model``'s training data, as far as its card tells: a lab model
    trained on everybody outside LFW View 2 fold ``k`` (``card.info["test_split"] == "View 2 fold k"``) saw every
    person not in that fold's pairs. Returns one sentence; says so when the card or ``pairs.txt`` cannot tell."""
    import re

    from labkit.config import DataMissingError
    from labkit.data.lfw import pair_people, protocol_path, read_pairs

    m = re.fullmatch(r"View 2 fold (\d+)", str(model.card.info.get("test_split", "")))
    if not m:
        return f"{model.card.name}: its card does not say which people it trained on"
    fold = int(m.group(1))
    try:
        held_out = pair_people([p for p in read_pairs(protocol_path("pairs.txt", root)) if p.fold == fold])
    except DataMissingError:
        return f"{model.card.name}: trained on everybody outside LFW View 2 fold {fold}; pairs.txt is not here to check"
    seen = [p for p in people if p not in held_out]
    return (f"{model.card.name}: trained on everybody outside LFW View 2 fold {fold}; {len(seen)} of {len(people)} "
            f"people here were in its training data" + (f" ({', '.join(seen)})" if seen else ""))
