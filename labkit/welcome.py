"""What ``notebooks/00_welcome.ipynb`` shows: an environment check and a map of the lab."""

from __future__ import annotations

import importlib
import platform
from dataclasses import dataclass

from labkit import config


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Chapter:
    notebook: str
    teaches: str
    paper: str
    fast_cpu: str  # wall time in fast mode on a 2-core laptop CPU
    full: str  # what full mode does


LAB_MAP: tuple[Chapter, ...] = (
    Chapter("00_welcome", "checks your environment and maps the lab", "-", "~10 s", "same"),
    Chapter("01_softmax_to_cosine", "softmax -> NSL -> LMCL step by step; decision margins with sliders",
            "Eq. 1-5, Fig. 2-3, Sec. 3.3", "~20 s", "same, finer grids"),
    Chapter("02_bounds_on_s_and_m", "the lower bound on s and the upper bounds on m, proved and checked",
            "Eq. 6-7, supplementary", "~30 s", "larger spreading runs"),
    Chapter("03_toy_8_identities", "8 LFW people, 2-D features, live margin slider over a shipped sweep",
            "Fig. 4", "~30 s", "re-trains the sweep (~3 min CPU)"),
    Chapter("04_face_data", "LFW, CASIA-WebFace, YTF, MegaFace: layouts, protocols, alignment",
            "Sec. 4.1", "~30 s", "the whole LFW"),
    Chapter("05_train_casia_webface", "the paper's networks and SGD schedule; lab-scale training on CPU",
            "Sec. 4.1", "~2 min", "sphere64 on CASIA-WebFace, GPU, hours"),
    Chapter("06_benchmarks", "LFW / YTF / MegaFace protocols and the paper's Tables 3-5",
            "Tables 3-5", "~1 min", "evaluates a trained checkpoint"),
    Chapter("07_margin_and_normalization", "accuracy vs m, with/without normalization, loss comparison",
            "Fig. 5, Tables 1-2", "~1 min", "minutes on CPU, several seeds"),
    Chapter("08_instructor_dashboard", "the instructor's dashboard: Fig. 2, 3 and 4 sliders, no code (make demo)",
            "Fig. 2-4", "~10 s", "same"),
    Chapter("09_your_own_faces", "your own photos: detect, align, embed, compare; lab vs reference model",
            "Sec. 4.1", "~15 s", "same"),
)


def check_environment() -> list[Check]:
    """Versions and capabilities the notebooks rely on, each marked ok or not with a hint."""
    checks = [Check("python", True, platform.python_version())]
    import torch

    checks.append(Check("torch", True, f"{torch.__version__}, {torch.get_num_threads()} CPU threads"))
    cuda = torch.cuda.is_available()
    checks.append(Check("gpu", True, torch.cuda.get_device_name(0) if cuda else "none (fast mode runs on the CPU)"))
    for module, hint in (
        ("numpy", "pip install numpy"),
        ("ipywidgets", "sliders need ipywidgets >= 8: make setup"),
        ("plotly", "interactive figures need plotly: make setup"),
        ("matplotlib", "static figures need matplotlib: make setup"),
        ("sklearn", "ROC and folds need scikit-learn: make setup"),
        ("skimage", "alignment needs scikit-image: make setup"),
    ):
        try:
            mod = importlib.import_module(module)
            checks.append(Check(module, True, getattr(mod, "__version__", "?")))
        except ImportError:
            checks.append(Check(module, False, hint))
    import plotly.io as pio

    renderer = pio.renderers.default
    checks.append(Check("plotly renderer", renderer == "plotly_mimetype",
                        f"{renderer} (call labkit.notebooks.setup_plotting() for small notebooks)"))
    root = config.data_root()
    found = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    detail = f"{root}: {', '.join(found) if found else 'no data sets yet (notebooks fall back to shipped results)'}"
    checks.append(Check("data root", True, detail))
    return checks


def format_checks(checks: list[Check]) -> str:
    """One line per check: a mark, the name, the detail."""
    return "\n".join(f"{'ok ' if c.ok else 'MISSING'} {c.name:<16} {c.detail}" for c in checks)
