"""Provenance guard: no statement of the upstream sources appears in our tree.

ganforge is written from the papers and from facts about the official implementations (formulas,
parameter and buffer names, defaults, file formats; see CONTRIBUTING.md, "Our code is our own").
Several of those implementations are under a non-commercial licence (NVIDIA's StyleGAN code) or
the GPL, so we must not carry code that follows them statement by statement.

:data:`UPSTREAM_STATEMENTS` lists distinctive statements of the upstream sources. They are short
facts used to *detect* copying, never code that runs. Every ``.py``, ``.c``/``.cpp``, ``.cu``,
``.cuh`` and ``.h`` file under ``src/``, ``benchmarks/``, ``examples/`` and ``tools/`` is scanned for
them after normalising both sides the same way (:func:`normalise`):

* comments, line breaks and indentation are dropped; whitespace between tokens does not matter;
* quotes, number spellings (``1e-8`` / ``1e-08``, ``0`` / ``0.0``) and letter case are made uniform;
* local names (``self`` included) become a placeholder ``_``, so a statement with renamed
  variables still matches. Attribute names (after ``.``), keyword-argument names, called
  functions, keywords, builtins and the usual module aliases (``torch``, ``np``, ``F``, ...) are
  kept: they carry the statement's meaning and keep matches specific.

A hit means "this line follows an upstream statement token for token": rewrite it from the maths
in our own structure. :data:`PENDING_REWRITE` names the few known hits in files another change owns.

Run it as a test (``python -m pytest tests/test_provenance.py``) or as a script that prints every
hit with its file and line (``python tools/check_upstream_copy.py``, or this file directly).
"""

from __future__ import annotations

import ast
import bisect
import builtins
import io
import keyword
import re
import sys
import tokenize
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED_DIRS = ("src", "benchmarks", "examples", "tools")
PY_SUFFIXES = {".py"}
C_SUFFIXES = {".c", ".cc", ".cpp", ".cu", ".cuh", ".h", ".hpp"}

# (upstream file, statement). Statements are quoted as facts for detection only.
_SG3 = "NVlabs/stylegan3 "
UPSTREAM_STATEMENTS: tuple[tuple[str, str], ...] = (
    # training/networks_stylegan2.py and networks_stylegan3.py: mapping network
    (_SG3 + "training/networks_stylegan2.py",
     "self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))"),
    (_SG3 + "training/networks_stylegan2.py", "x = x.unsqueeze(1).repeat([1, self.num_ws, 1])"),
    (_SG3 + "training/networks_stylegan2.py",
     "x[:, :truncation_cutoff] = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)"),
    (_SG3 + "training/networks_stylegan2.py", "x = self.w_avg.lerp(x, truncation_psi)"),
    (_SG3 + "training/networks_stylegan2.py",
     "features_list = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]"),
    (_SG3 + "training/networks_stylegan3.py",
     "features = [self.z_dim + (self.w_dim if self.c_dim > 0 else 0)] + [self.w_dim] * self.num_layers"),
    # fully connected layer
    (_SG3 + "training/networks_stylegan2.py", "x = torch.addmm(b.unsqueeze(0), x, w.t())"),
    (_SG3 + "training/networks_stylegan2.py", "if self.bias_gain != 1: b = b * self.bias_gain"),
    (_SG3 + "training/networks_stylegan3.py",
     "bias_init = np.broadcast_to(np.asarray(bias_init, dtype=np.float32), [out_features])"),
    # modulated convolution
    (_SG3 + "training/networks_stylegan2.py",
     "weight = weight * (1 / np.sqrt(in_channels * kh * kw) / weight.norm(float('inf'), dim=[1,2,3], "
     "keepdim=True))"),
    (_SG3 + "training/networks_stylegan3.py", "w = w * s.unsqueeze(1).unsqueeze(3).unsqueeze(4)"),
    (_SG3 + "training/networks_stylegan3.py", "w = w * dcoefs.unsqueeze(2).unsqueeze(3).unsqueeze(4)"),
    # StyleGAN3 synthesis input
    (_SG3 + "training/networks_stylegan3.py", "radii = freqs.square().sum(dim=1, keepdim=True).sqrt()"),
    (_SG3 + "training/networks_stylegan3.py", "freqs /= radii * radii.square().exp().pow(0.25)"),
    (_SG3 + "training/networks_stylegan3.py", "t = t / t[:, :2].norm(dim=1, keepdim=True)"),
    (_SG3 + "training/networks_stylegan3.py",
     "m_r = torch.eye(3, device=w.device).unsqueeze(0).repeat([w.shape[0], 1, 1])"),
    (_SG3 + "training/networks_stylegan3.py", "phases = phases + (freqs @ transforms[:, :2, 2:]).squeeze(2)"),
    (_SG3 + "training/networks_stylegan3.py",
     "amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth))"
     ".clamp(0, 1)"),
    (_SG3 + "training/networks_stylegan3.py",
     "x = (grids.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)"),
    # StyleGAN3 synthesis layer
    (_SG3 + "training/networks_stylegan3.py",
     "magnitude_cur = x.detach().to(torch.float32).square().mean()"),
    (_SG3 + "training/networks_stylegan3.py",
     "self.magnitude_ema.copy_(magnitude_cur.lerp(self.magnitude_ema, self.magnitude_ema_beta))"),
    (_SG3 + "training/networks_stylegan3.py",
     "self.tmp_sampling_rate = max(in_sampling_rate, out_sampling_rate) * "
     "(1 if is_torgb else lrelu_upsampling)"),
    (_SG3 + "training/networks_stylegan3.py",
     "pad_total -= (self.in_size + self.conv_kernel - 1) * self.up_factor"),
    (_SG3 + "training/networks_stylegan3.py", "pad_total += self.up_taps + self.down_taps - 2"),
    (_SG3 + "training/networks_stylegan3.py",
     "self.padding = [int(pad_lo[0]), int(pad_hi[0]), int(pad_lo[1]), int(pad_hi[1])]"),
    (_SG3 + "training/networks_stylegan3.py", "r = np.hypot(*np.meshgrid(x, x))"),
    (_SG3 + "training/networks_stylegan3.py", "f = scipy.special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)"),
    (_SG3 + "training/networks_stylegan3.py",
     "beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))"),
    # StyleGAN3 layer schedule
    (_SG3 + "training/networks_stylegan3.py",
     "exponents = np.minimum(np.arange(self.num_layers + 1) / (self.num_layers - self.num_critical), 1)"),
    (_SG3 + "training/networks_stylegan3.py",
     "sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, self.img_resolution))))"),
    (_SG3 + "training/networks_stylegan3.py",
     "channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))"),
    # training/loss.py
    (_SG3 + "training/loss.py",
     "cutoff = torch.empty([], dtype=torch.int64, device=ws.device).random_(1, ws.shape[1])"),
    (_SG3 + "training/loss.py",
     "cutoff = torch.where(torch.rand([], device=ws.device) < self.style_mixing_prob, cutoff, "
     "torch.full_like(cutoff, ws.shape[1]))"),
    (_SG3 + "training/loss.py",
     "f = torch.arange(-blur_size, blur_size + 1, device=img.device).div(blur_sigma).square().neg().exp2()"),
    (_SG3 + "training/loss.py",
     "blur_sigma = max(1 - cur_nimg / (self.blur_fade_kimg * 1e3), 0) * self.blur_init_sigma"),
    (_SG3 + "training/loss.py",
     "pl_noise = torch.randn_like(gen_img) / np.sqrt(gen_img.shape[2] * gen_img.shape[3])"),
    (_SG3 + "training/loss.py",
     "pl_grads = torch.autograd.grad(outputs=[(gen_img * pl_noise).sum()], inputs=[gen_ws], "
     "create_graph=True, "
     "only_inputs=True)[0]"),
    (_SG3 + "training/loss.py", "pl_mean = self.pl_mean.lerp(pl_lengths.mean(), self.pl_decay)"),
    (_SG3 + "training/loss.py",
     "r1_grads = torch.autograd.grad(outputs=[real_logits.sum()], inputs=[real_img_tmp], create_graph=True, "
     "only_inputs=True)[0]"),
    (_SG3 + "training/loss.py", "phase = {'Greg': 'none', 'Gboth': 'Gmain'}.get(phase, phase)"),
    (_SG3 + "training/loss.py",
     "real_img_tmp = real_img.detach().requires_grad_(phase in ['Dreg', 'Dboth'])"),
    # training/augment.py
    (_SG3 + "training/augment.py", "p_rot = 1 - torch.sqrt((1 - self.rotate * self.p).clamp(0, 1))"),
    (_SG3 + "training/augment.py", "Hz_hi = Hz_lo * ((-1) ** np.arange(Hz_lo.size))"),
    (_SG3 + "training/augment.py",
     "Hz_fbank = np.dstack([Hz_fbank, np.zeros_like(Hz_fbank)]).reshape(Hz_fbank.shape[0], -1)[:, :-1]"),
    (_SG3 + "training/augment.py", "margin = torch.cat([-margin, margin]).max(dim=1).values"),
    (_SG3 + "training/augment.py",
     "G_inv = translate2d(-0.5, -0.5, device=device) @ G_inv @ translate2d_inv(-0.5, -0.5, device=device)"),
    (_SG3 + "training/augment.py",
     "t = t / (expected_power * t.square()).sum(dim=-1, keepdims=True).sqrt()"),
    (_SG3 + "training/augment.py", "C = (v.ger(v) + (I_4 - v.ger(v)) * s) @ C"),
    (_SG3 + "training/augment.py",
     "mask_x = (((coord_x + 0.5) / width - center[:, 0]).abs() >= size[:, 0] / 2)"),
    # torch_utils/persistence.py
    (_SG3 + "torch_utils/persistence.py", "fields += [None] * max(3 - len(fields), 0)"),
    (_SG3 + "torch_utils/persistence.py", "module_name = \"_imported_module_\" + uuid.uuid4().hex"),
    # torch_utils/ops
    (_SG3 + "torch_utils/ops/upfirdn2d.py",
     "x = x.reshape([batch_size, num_channels, in_height, 1, in_width, 1])"),
    (_SG3 + "torch_utils/ops/upfirdn2d.py",
     "x = torch.nn.functional.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])"),
    (_SG3 + "torch_utils/ops/upfirdn2d.py",
     "p = [fw - padx0 - 1, iw * upx - ow * downx + padx0 - upx + 1, fh - pady0 - 1, "
     "ih * upy - oh * downy + pady0 - upy + 1]"),
    (_SG3 + "torch_utils/ops/bias_act.cu",
     "scalar_t b = (p.b) ? (scalar_t)((const T*)p.b)[(xi / p.stepB) % p.sizeB] : 0;"),
    (_SG3 + "torch_utils/ops/bias_act.cu", "y = (y > -clamp & y < clamp) ? y : (y >= 0) ? clamp : -clamp;"),
    # metrics/metric_utils.py
    (_SG3 + "metrics/metric_utils.py", "self.raw_cov += x64.T @ x64"),
    (_SG3 + "metrics/metric_utils.py", "self.raw_mean += x64.sum(axis=0)"),
    (_SG3 + "metrics/metric_utils.py", "mean = self.raw_mean / self.num_items"),
    (_SG3 + "metrics/metric_utils.py", "x = x[:self.max_items - self.num_items]"),
    (_SG3 + "metrics/metric_utils.py",
     "item_subset = [(i * opts.num_gpus + opts.rank) % num_items "
     "for i in range((num_items - 1) // opts.num_gpus + 1)]"),
    (_SG3 + "metrics/metric_utils.py",
     "return (self.max_items is not None) and (self.num_items >= self.max_items)"),
    # metrics/equivariance.py
    (_SG3 + "metrics/equivariance.py",
     "taps = ((torch.arange(aflt * up * 2 - 1, device=mat.device) + 1) / up - aflt).roll(1 - aflt * up)"),
    (_SG3 + "metrics/equivariance.py",
     "xo, yo = (torch.stack([xi, yi], dim=2) @ mat[:2, :2].t()).unbind(2)"),
    (_SG3 + "metrics/equivariance.py", "f = f.roll([aflt * up - 1] * 2, dims=[0,1])[c:-c, c:-c]"),
    (_SG3 + "metrics/equivariance.py",
     "f = torch.nn.functional.pad(f, [0, 1, 0, 1]).reshape(amax * 2, up, amax * 2, up)"),
    (_SG3 + "metrics/equivariance.py", "f = f / f.sum([0,2], keepdim=True) / (up ** 2)"),
    (_SG3 + "metrics/equivariance.py", "theta[0, :] *= W / (W + p / up * 2)"),
    (_SG3 + "metrics/equivariance.py",
     "y = x[:, :, max(-iy,0) : H+min(-iy,0), max(-ix,0) : W+min(-ix,0)]"),
    (_SG3 + "metrics/equivariance.py", "psnrs = np.log10(2) * 20 - mses.log10() * 10"),
    # training/dataset.py
    (_SG3 + "training/dataset.py", "self._xflip = np.concatenate([self._xflip, np.ones_like(self._xflip)])"),
    (_SG3 + "training/dataset.py", "self._raw_idx = np.tile(self._raw_idx, 2)"),
    (_SG3 + "training/dataset.py", "self._raw_idx = np.sort(self._raw_idx[:max_size])"),
    # avg_spectra.py
    (_SG3 + "avg_spectra.py", "hmap = np.concatenate([hmap, hmap[:1, :]], axis=0)"),
    (_SG3 + "avg_spectra.py", "hmap = np.concatenate([hmap, hmap[:, :1]], axis=1)"),
    (_SG3 + "avg_spectra.py",
     "freqs45 = np.linspace(0, image_size / np.sqrt(2), num=(hmap_size // 2 + 1), endpoint=True)"),
    (_SG3 + "avg_spectra.py", "window = window.ger(window).unsqueeze(0).unsqueeze(1)"),
    (_SG3 + "avg_spectra.py",
     "spectrum += torch.fft.fftn(image, dim=[2,3]).abs().square().mean(dim=[0,1])"),
    (_SG3 + "avg_spectra.py",
     "moments += torch.stack([torch.ones_like(image).sum(), image.sum(), image.square().sum()])"),
    # autonomousvision/frequency_bias utils/spectrum.py (MIT, but still not ours)
    ("autonomousvision/frequency_bias utils/spectrum.py",
     "shifts = torch.tensor(data.shape[1:]).div(2, rounding_mode='floor')"),
    ("autonomousvision/frequency_bias utils/spectrum.py",
     "power_spec = torch.cat([power_spec[:, :N_2+1], power_spec[:, N_2:N_2+1], power_spec[:, N_2+1:]], "
     "dim=1)"),
    ("autonomousvision/frequency_bias utils/spectrum.py",
     "tbin = csim[..., rind[1:]] - csim[..., rind[:-1]]"),
)

#: Hits tolerated for now in files another change owns: ``{path: statements}``. Each entry is a debt
#: with an owner; remove it as soon as the file is rewritten (the script and a warning say when).
PENDING_REWRITE: dict[str, tuple[str, ...]] = {}

# Names kept as they are by the normaliser (everything else that is not an attribute, a keyword
# argument or a called function becomes ``_``).
_KEPT_NAMES = frozenset(keyword.kwlist) | frozenset(dir(builtins)) | {
    "torch", "np", "numpy", "scipy", "math", "F", "nn",
    # C/C++/CUDA
    "const", "int", "float", "double", "void", "return", "if", "else", "for", "while", "template",
    "typename", "struct", "class", "static", "inline", "auto", "unsigned", "bool", "char",
}
# Names that say nothing about where a statement comes from.
_GENERIC_NAMES = {"_", "self", "cls", "torch", "np", "numpy", "scipy", "math", "f", "nn", "if", "else", "for",
                  "in", "return", "const", "int", "float", "and", "or", "not", "none", "true", "false"}
_C_TOKEN = re.compile(r"""
    (?P<str>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[fFuUlL]*)
  | (?P<name>[A-Za-z_]\w*)
  | (?P<op>->|\+\+|--|<<=|>>=|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^]=|::|\S)
""", re.X)
_C_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)


def _py_tokens(text: str) -> Iterator[tuple[str, str, int]]:
    """``(kind, text, line)`` of the significant Python tokens (comments and layout dropped)."""
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENCODING, tokenize.ENDMARKER}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type in skip:
                continue
            kind = {tokenize.NAME: "name", tokenize.NUMBER: "num", tokenize.STRING: "str"}.get(tok.type, "op")
            yield kind, tok.string, tok.start[0]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return  # a fragment with unclosed brackets: the tokens so far are what we need


def _c_tokens(text: str) -> Iterator[tuple[str, str, int]]:
    text = _C_COMMENT.sub(lambda m: "\n" * m.group().count("\n"), text)
    for m in _C_TOKEN.finditer(text):
        yield m.lastgroup or "op", m.group(), text.count("\n", 0, m.start()) + 1


def _canonical_literal(kind: str, text: str) -> str:
    if kind == "num":  # 0, 0.0, 0., 1e3 and 1000 all read as the same number
        digits = text.rstrip("fFuUlL").lower().replace("_", "")
        try:
            return repr(float(int(digits, 0)))
        except (ValueError, OverflowError):
            try:
                return repr(float(digits))
            except ValueError:
                return digits
    try:
        return repr(ast.literal_eval(text)).lower().replace("'", '"')
    except (ValueError, SyntaxError):
        return text.lower().replace("'", '"')  # f-strings and C strings


def _normalised_tokens(raw: Sequence[tuple[str, str, int]]) -> list[tuple[str, int]]:
    """Canonical tokens with their line numbers (module docstring for the rules)."""
    out: list[tuple[str, int]] = []
    depth = 0
    for i, (kind, text, line) in enumerate(raw):
        if kind == "name":
            prev = raw[i - 1][1] if i else ""
            nxt = raw[i + 1][1] if i + 1 < len(raw) else ""
            keep = (text in _KEPT_NAMES or prev in (".", "->", "::") or nxt == "("
                    or (nxt == "=" and depth > 0))
            out.append((text.lower() if keep else "_", line))
        elif kind in ("num", "str"):
            out.append((_canonical_literal(kind, text), line))
        else:
            depth += text in "([{"
            depth -= text in ")]}"
            out.append((text, line))
    return out


def normalise(text: str, c_like: bool = False) -> list[tuple[str, int]]:
    """The canonical token stream of Python (or C/C++/CUDA) source text, with line numbers."""
    return _normalised_tokens(list(_c_tokens(text) if c_like else _py_tokens(text)))


def _joined(tokens: Sequence[tuple[str, int]]) -> str:
    return " " + " ".join(t for t, _ in tokens) + " "


def statement_key(statement: str) -> str:
    """The search key of one upstream statement (C statements are recognised by a ``;``)."""
    return _joined(normalise(statement, c_like=statement.rstrip().endswith(";")))


def scanned_files(root: Path = ROOT) -> list[Path]:
    files = []
    for name in SCANNED_DIRS:
        base = root / name
        if base.is_dir():
            files += [p for p in sorted(base.rglob("*"))
                      if p.is_file() and p.suffix in PY_SUFFIXES | C_SUFFIXES]
    return files


def find_upstream_statements(paths: Sequence[Path], root: Path = ROOT) -> list[tuple[str, int, str, str]]:
    """``(path, line, upstream file, statement)`` for every upstream statement found in ``paths``."""
    keys = [(statement_key(stmt), source, stmt) for source, stmt in UPSTREAM_STATEMENTS]
    hits = []
    for path in paths:
        tokens = normalise(path.read_text(errors="replace"), c_like=path.suffix in C_SUFFIXES)
        joined = _joined(tokens)
        starts = []  # character offset of each token in ``joined``
        pos = 1
        for tok, _ in tokens:
            starts.append(pos)
            pos += len(tok) + 1
        rel = path.relative_to(root) if path.is_relative_to(root) else path
        for key, source, stmt in keys:
            at = joined.find(key)
            while at >= 0:
                first = bisect.bisect_right(starts, at + 1) - 1  # the key starts with a space
                hits.append((str(rel), tokens[first][1], source, stmt))
                at = joined.find(key, at + 1)
    return hits


def split_pending(hits: list[tuple[str, int, str, str]]) -> tuple[list, list, list[tuple[str, str]]]:
    """``(new hits, tolerated hits, stale PENDING_REWRITE entries that no longer match)``."""
    pending = {(path, stmt) for path, stmts in PENDING_REWRITE.items() for stmt in stmts}
    tolerated = [h for h in hits if (h[0], h[3]) in pending]
    new = [h for h in hits if (h[0], h[3]) not in pending]
    stale = sorted(pending - {(h[0], h[3]) for h in tolerated})
    return new, tolerated, stale


# ------------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------------

def test_no_upstream_statement_in_the_tree():
    new, _, stale = split_pending(find_upstream_statements(scanned_files()))
    report = "\n".join(f"  {path}:{line}: {stmt}   [{source}]" for path, line, source, stmt in new)
    assert not new, f"statements transcribed from upstream sources (rewrite them from the maths):\n{report}"
    for path, stmt in stale:
        warnings.warn(f"PENDING_REWRITE lists {stmt!r} for {path}, which no longer contains it: "
                      f"remove the entry", stacklevel=1)


def test_pending_rewrites_name_listed_statements():
    listed = {stmt for _, stmt in UPSTREAM_STATEMENTS}
    for path, stmts in PENDING_REWRITE.items():
        assert (ROOT / path).is_file(), path
        assert set(stmts) <= listed, f"{path}: PENDING_REWRITE entries must be statements of the list"


def test_the_list_is_long_and_every_entry_is_distinctive():
    keys = [statement_key(stmt) for _, stmt in UPSTREAM_STATEMENTS]
    assert len(set(keys)) == len(keys) >= 30
    for (_, stmt), key in zip(UPSTREAM_STATEMENTS, keys, strict=True):
        tokens = key.split()
        kept = {t for t in tokens if re.fullmatch(r"[a-z_]\w*", t)} - _GENERIC_NAMES
        # short statements need two telling names; long ones are specific by their shape alone
        assert len(tokens) >= 8 and (len(kept) >= 2 or len(tokens) >= 14), f"too generic: {stmt!r}"


def test_a_pasted_statement_is_found_despite_renames_layout_and_comments(tmp_path):
    pasted = tmp_path / "pasted.py"
    pasted.write_text(
        "def update(net, ws):\n"
        "    if True:\n"
        "        net.w_avg.copy_(  # running mean\n"
        "            ws.detach().mean(dim = 0)\n"
        "              .lerp(net.w_avg, net.w_avg_beta))\n"
        "    rates = np.exp2(np.ceil(np.log2(np.minimum(bands * 2, net.img_resolution))))\n"
        "    return rates\n")
    cuda = tmp_path / "pasted.cu"
    cuda.write_text("/* x */ scalar_t bias = (p.b) ? (scalar_t)((const T*)p.b)[(i / p.stepB) % p.sizeB] : 0;"
                    " // y\n")
    hits = find_upstream_statements([pasted, cuda], root=tmp_path)
    assert ("pasted.py", 3) in {(path, line) for path, line, _, _ in hits}
    assert ("pasted.py", 6) in {(path, line) for path, line, _, _ in hits}
    assert ("pasted.cu", 1) in {(path, line) for path, line, _, _ in hits}
    # the same maths in another structure is not flagged
    ours = tmp_path / "ours.py"
    ours.write_text("def update(net, ws):\n"
                    "    batch_mean = ws.detach().mean(dim=0)\n"
                    "    torch.lerp(batch_mean, net.w_avg, net.w_avg_beta, out=net.w_avg)\n")
    assert find_upstream_statements([ours], root=tmp_path) == []


def test_every_statement_of_the_list_matches_itself(tmp_path):
    for i, (_, stmt) in enumerate(UPSTREAM_STATEMENTS):
        path = tmp_path / (f"s{i}.cu" if stmt.rstrip().endswith(";") else f"s{i}.py")
        path.write_text(f"{stmt}\n")
        assert find_upstream_statements([path], root=tmp_path), stmt


def main(argv: Sequence[str] | None = None) -> int:
    """Print every upstream statement found in the given files (default: everything scanned under
    src/, benchmarks/, examples/ and tools/); exit 1 on any hit not listed in PENDING_REWRITE."""
    paths = [Path(p).resolve() for p in argv] if argv else scanned_files()
    new, tolerated, stale = split_pending(find_upstream_statements(paths))
    for path, line, source, stmt in new:
        print(f"{path}:{line}: {stmt}\n    (from {source})")
    for path, line, _, stmt in tolerated:
        print(f"{path}:{line}: pending rewrite (PENDING_REWRITE): {stmt}")
    for path, stmt in stale if not argv else ():
        print(f"{path}: no longer contains {stmt!r}; remove it from PENDING_REWRITE")
    print(f"{len(new)} upstream statement(s) found in {len(paths)} files ({len(tolerated)} pending rewrite); "
          f"{len(UPSTREAM_STATEMENTS)} statements checked.", file=sys.stderr)
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
