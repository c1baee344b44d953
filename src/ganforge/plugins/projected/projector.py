"""The feature network of the projected discriminator: a frozen EfficientNet-Lite0 and fixed random
projections (Sauer et al., "Projected GANs Converge Faster", NeurIPS 2021, §3).

- ``pretrained.layer0..3``: the backbone cut after stages 1, 2, 4 and 6 (24@/4, 40@/8, 112@/16,
  320@/32), as upstream's split of timm's ``tf_efficientnet_lite0``. Its tensors are non-persistent
  buffers: frozen, never given to an optimiser, and absent from state dicts and checkpoints (the
  backbone's identity and checksum are stored instead, as extra state).
- ``scratch.layer{i}_ccm``: cross-channel mixing, a random 1x1 conv per scale (``proj_type >= 1``).
- ``scratch.layer{i}_csm``: cross-scale mixing, top-down fusion (``proj_type == 2``): add the coarser
  output, upsample 2x (bilinear, align_corners=True), 1x1 conv (halving channels when ``expand``,
  except at the finest level).

CCM and CSM are random and fixed (``requires_grad=False``) but saved, since the mini-discriminators
are trained on their outputs.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.core.errors import CheckpointError
from ganforge.nn.efficientnet_lite import EfficientNetLite0

__all__ = ["FeatureFusionBlock", "RandomProjection", "freeze_as_buffers", "BACKBONE_NAME"]

BACKBONE_NAME = "tf_efficientnet_lite0"
#: Nominal input size the mini-discriminator depths are derived from (upstream fixes it to 256).
NOMINAL_RESOLUTION = 256


def freeze_as_buffers(module: nn.Module) -> nn.Module:
    """Turn every parameter and buffer of ``module`` into a non-persistent buffer (in place).

    The tensors keep working in ``forward`` and follow ``.to(device)``, but no optimiser sees them and
    ``state_dict()`` leaves them out.
    """
    for m in module.modules():
        for name, p in list(m._parameters.items()):
            if p is None:
                continue
            del m._parameters[name]
            m.register_buffer(name, p.detach(), persistent=False)
        for name in list(m._buffers):
            m._non_persistent_buffers_set.add(name)
    return module


class FeatureFusionBlock(nn.Module):
    """CSM level: ``out_conv(upsample2x(x0 [+ x1]))``; ``[N, C, H, W] -> [N, C or C/2, 2H, 2W]``."""

    def __init__(self, features: int, expand: bool = False):
        super().__init__()
        self.features, self.expand = features, expand
        self.out_conv = nn.Conv2d(features, features // 2 if expand else features, 1, 1, 0, bias=True)

    def extra_repr(self) -> str:
        return f"features={self.features}, expand={self.expand}"

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0] if len(xs) == 1 else xs[0] + xs[1]
        out = F.interpolate(out, scale_factor=2, mode="bilinear", align_corners=True)
        return self.out_conv(out)


class RandomProjection(nn.Module):
    """Frozen backbone + fixed random projections (upstream ``F_RandomProj``).

    Args:
        backbone: an :class:`EfficientNetLite0` (its weights are moved into non-persistent buffers).
        identity: what the backbone is (``{"backbone", "weights", "sha256"/"seed"}``), stored as extra
            state and checked on load.
        cout, expand, proj_type: as upstream (``proj_type`` 0: raw features, 1: + CCM, 2: + CSM).

    Attributes:
        CHANNELS: channels of the four outputs (``[64, 64, 128, 256]`` for the defaults).
        RESOLUTIONS: nominal sizes (``[128, 64, 32, 16]`` for proj_type 2); they set the depth of
            each mini-discriminator.
    """

    def __init__(self, backbone: EfficientNetLite0, identity: dict[str, Any], cout: int = 64,
                 expand: bool = True, proj_type: int = 2):
        super().__init__()
        self.cout, self.expand, self.proj_type = cout, expand, proj_type
        self.identity = dict(identity)
        pretrained = nn.Module()
        pretrained.layer0 = nn.Sequential(backbone.conv_stem, backbone.bn1, backbone.act1,
                                          *backbone.blocks[0:2])
        pretrained.layer1 = nn.Sequential(*backbone.blocks[2:3])
        pretrained.layer2 = nn.Sequential(*backbone.blocks[3:5])
        pretrained.layer3 = nn.Sequential(*backbone.blocks[5:7])
        self.pretrained = freeze_as_buffers(pretrained).eval()
        channels = [stage[-1].bn3.num_features for stage in (backbone.blocks[1], backbone.blocks[2],
                                                             backbone.blocks[4], backbone.blocks[6])]
        res = NOMINAL_RESOLUTION
        self.RESOLUTIONS = [res // 4, res // 8, res // 16, res // 32]
        self.CHANNELS = channels
        if proj_type >= 1:
            self.scratch = nn.Module()
            out = [cout, cout * 2, cout * 4, cout * 8] if expand else [cout] * 4
            for i in range(4):
                setattr(self.scratch, f"layer{i}_ccm", nn.Conv2d(channels[i], out[i], 1, 1, 0, bias=True))
            self.CHANNELS = out
        if proj_type == 2:
            for i in (3, 2, 1):
                setattr(self.scratch, f"layer{i}_csm", FeatureFusionBlock(out[i], expand=expand))
            self.scratch.layer0_csm = FeatureFusionBlock(out[0], expand=False)
            self.CHANNELS = [cout, cout, cout * 2, cout * 4] if expand else [cout] * 4
            self.RESOLUTIONS = [r * 2 for r in self.RESOLUTIONS]
        if proj_type >= 1:
            self.scratch.requires_grad_(False)

    def extra_repr(self) -> str:
        return f"cout={self.cout}, expand={self.expand}, proj_type={self.proj_type}, backbone={self.identity}"

    def train(self, mode: bool = True) -> RandomProjection:
        """The backbone's BatchNorms stay in eval mode (frozen statistics) whatever ``mode`` is."""
        super().train(mode)
        self.pretrained.eval()
        return self

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``[N, 3, S, S]`` in [-1, 1] -> four feature maps.

        224 input, defaults: 64@112, 64@56, 128@28, 256@14.
        """
        out0 = self.pretrained.layer0(x)
        out1 = self.pretrained.layer1(out0)
        out2 = self.pretrained.layer2(out1)
        out3 = self.pretrained.layer3(out2)
        feats = [out0, out1, out2, out3]
        if self.proj_type == 0:
            return feats
        feats = [getattr(self.scratch, f"layer{i}_ccm")(f) for i, f in enumerate(feats)]
        if self.proj_type == 1:
            return feats
        s3 = self.scratch.layer3_csm(feats[3])
        s2 = self.scratch.layer2_csm(s3, feats[2])
        s1 = self.scratch.layer1_csm(s2, feats[1])
        s0 = self.scratch.layer0_csm(s1, feats[0])
        return [s0, s1, s2, s3]

    # -- identity of the frozen backbone, kept in checkpoints instead of its weights ------------------
    def get_extra_state(self) -> dict[str, Any]:
        return dict(self.identity)

    def set_extra_state(self, state: Any) -> None:
        theirs = dict(state) if isinstance(state, dict) else {}
        if theirs != self.identity:
            raise CheckpointError(
                f"the projected discriminator in this file was trained on feature network "
                f"{_describe(theirs)}, but this one uses {_describe(self.identity)}; set "
                "discriminator.pretrained / discriminator.weights (or random_seed) to what the run used")


def _describe(identity: dict[str, Any]) -> str:
    if not identity:
        return "(unknown)"
    if identity.get("sha256"):
        return (f"{identity.get('backbone')} with {identity.get('weights')} weights "
                f"(sha256 {identity['sha256'][:12]}...)")
    return f"{identity.get('backbone')} with random weights (seed {identity.get('seed')})"
