"""AASIST (Jung et al., ICASSP 2022): a faithful re-implementation of clovaai/aasist ``models/AASIST.py``.

Parameter and buffer names are the official ones, so the official checkpoints load with ``strict=True``, and
the outputs match the official implementation (see tests/test_model.py). The official code's *quirks* are kept
(bug-compatible, each documented where it lives, marked "Official quirk"); its real bugs are fixed:

- the sinc filterbank is built once as a non-persistent buffer instead of being copied to the device on every
  forward, and nothing is tied to CUDA (the official checkpoints hold CUDA tensors: they are loaded onto the
  CPU);
- frequency masking draws from torch's global RNG (seedable by ``torch.manual_seed`` / ``L.seed_everything``)
  instead of NumPy's and Python's, and cannot pick a band wider than the filterbank;
- the spectral positional embedding ``pos_S`` is sized from ``filts[0]`` instead of a hard-coded 23;
- the official ``Freq_aug`` forward argument is replaced by the ``freq_mask_width`` hyper-parameter plus the
  module's training mode, so masking can never leak into evaluation.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aasist_lightning.models.archs import ARCH_KEYS, OFFICIAL_ARCHS
from aasist_lightning.models.sinc import SincConv, odd_kernel_size
from aasist_lightning.models.weights import (
    OFFICIAL_WEIGHTS,
    guess_arch,
    load_weights_into,
    official_name,
    read_weights,
    resolve_weights,
)
from aasist_lightning.values import is_integer, is_real

#: The hyper-parameters that make the network its weights belong to (the rest, ``nb_samp`` and
#: ``freq_mask_width``, only set the input length and the training-time masking).
NETWORK_KEYS = ("first_conv", "filts", "gat_dims", "pool_ratios", "temperatures")

#: Total time down-sampling after the sinc convolution: one (3, 3) max-pool, then six residual blocks each
#: max-pooling time by 3. The encoder output has ``(T - kernel_size + 1) // TIME_POOL`` temporal nodes.
TIME_POOL = 3**7


class GraphAttentionLayer(nn.Module):
    """Graph attention over the nodes of one graph (official ``GraphAttentionLayer``).

    (B, N, in_dim) -> (B, N, out_dim).

    Attention logits are ``tanh(att_proj(x_i * x_j)) @ att_weight / temperature``, soft-maxed over ``j``;
    the output is ``SELU(BN(proj_with_att(A @ x) + proj_without_att(x)))``. Official quirk: the batch norm
    treats every node of every example as one sample (``BatchNorm1d`` over ``(B * N, out)``).

    Set ``keep_attention = True`` to keep the last attention map, detached, in ``last_attention`` (B, N, N);
    ``AASIST.set_keep_attention`` does it for every graph layer.
    """

    def __init__(self, in_dim: int, out_dim: int, temperature: float = 1.0) -> None:
        super().__init__()
        # Creation order as the official code, so that a seeded initialisation draws the same numbers.
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_weight = _xavier_param(out_dim, 1)
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.input_drop = nn.Dropout(p=0.2)
        self.temp = temperature
        self.keep_attention = False
        self.last_attention: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_drop(x)
        att = self._derive_att_map(x)
        x = self.proj_with_att(att @ x) + self.proj_without_att(x)
        return F.selu(_node_batch_norm(self.bn, x))

    def _derive_att_map(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, N), each row a distribution over the neighbours j."""
        pairs = torch.tanh(self.att_proj(x.unsqueeze(2) * x.unsqueeze(1)))  # (B, N, N, out)
        att = torch.softmax((pairs @ self.att_weight).squeeze(-1) / self.temp, dim=-1)
        if self.keep_attention:
            self.last_attention = att.detach()
        return att


class HtrgGraphAttentionLayer(nn.Module):
    """Heterogeneous graph attention over two node types plus a master node (official
    ``HtrgGraphAttentionLayer``): (x1 (B, N1, in), x2 (B, N2, in), master (B or 1, 1, in)) ->
    (x1' (B, N1, out), x2' (B, N2, out), master' (B, 1, out)).

    Each type is first projected by its own ``proj_type*``; attention logits between nodes use
    ``att_weight11`` within type 1, ``att_weight22`` within type 2 and ``att_weight12`` across types (official
    quirk: the same vector for both directions). The master node attends to all nodes (``att_projM`` /
    ``att_weightM``) but no node attends to the master, and the master gets neither batch norm nor SELU
    (official design). Official quirk: the master is updated from the nodes *after* input dropout.
    The official ``master=None`` fallback (mean of the nodes) is never used by the model and is not kept.

    ``keep_attention = True`` keeps ``last_attention`` (B, N1 + N2, N1 + N2) and ``last_master_attention``
    (B, N1 + N2), detached.
    """

    def __init__(self, in_dim: int, out_dim: int, temperature: float = 1.0) -> None:
        super().__init__()
        self.proj_type1 = nn.Linear(in_dim, in_dim)
        self.proj_type2 = nn.Linear(in_dim, in_dim)
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_projM = nn.Linear(in_dim, out_dim)
        self.att_weight11 = _xavier_param(out_dim, 1)
        self.att_weight22 = _xavier_param(out_dim, 1)
        self.att_weight12 = _xavier_param(out_dim, 1)
        self.att_weightM = _xavier_param(out_dim, 1)
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.proj_with_attM = nn.Linear(in_dim, out_dim)
        self.proj_without_attM = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.input_drop = nn.Dropout(p=0.2)
        self.temp = temperature
        self.keep_attention = False
        self.last_attention: torch.Tensor | None = None
        self.last_master_attention: torch.Tensor | None = None

    def forward(
        self, x1: torch.Tensor, x2: torch.Tensor, master: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n1 = x1.size(1)
        x = self.input_drop(torch.cat([self.proj_type1(x1), self.proj_type2(x2)], dim=1))
        att = self._derive_att_map(x, n1)
        master = self._update_master(x, master)
        x = self.proj_with_att(att @ x) + self.proj_without_att(x)
        x = F.selu(_node_batch_norm(self.bn, x))
        return x[:, :n1], x[:, n1:], master

    def _derive_att_map(self, x: torch.Tensor, n1: int) -> torch.Tensor:
        """(B, N, N) row-stochastic attention, logits from the weight vector of each (type, type) block.

        The official code fills a zero board block by block with four matmuls; here one matmul scores every
        pair with the three vectors and a gather picks the right one (same values, one kernel)."""
        n = x.size(1)
        pairs = torch.tanh(self.att_proj(x.unsqueeze(2) * x.unsqueeze(1)))  # (B, N, N, out)
        scores = pairs @ torch.cat([self.att_weight11, self.att_weight22, self.att_weight12], dim=1)
        # Block index 0: 1-1, 1: 2-2, 2: across, in integer arithmetic: inductor (torch.compile) fails on a
        # comparison of boolean tensors.
        t2 = (torch.arange(n, device=x.device) >= n1).long()
        row, col = t2.unsqueeze(1), t2.unsqueeze(0)
        block = 2 * (row - col).abs() + row * col
        logits = scores.gather(-1, block.expand(x.size(0), n, n).unsqueeze(-1)).squeeze(-1)
        att = torch.softmax(logits / self.temp, dim=-1)
        if self.keep_attention:
            self.last_attention = att.detach()
        return att

    def _update_master(self, x: torch.Tensor, master: torch.Tensor) -> torch.Tensor:
        logits = (torch.tanh(self.att_projM(x * master)) @ self.att_weightM) / self.temp  # (B, N, 1)
        att = torch.softmax(logits, dim=1)
        if self.keep_attention:
            self.last_master_attention = att.squeeze(-1).detach()
        return self.proj_with_attM(att.transpose(1, 2) @ x) + self.proj_without_attM(master)


class GraphPool(nn.Module):
    """Graph pooling (official ``GraphPool``): keeps the ``max(int(N * k), 1)`` nodes with the highest
    ``sigmoid(proj(dropout(h)))`` score, each multiplied by its score, in descending score order.

    Set ``keep_indices = True`` to keep the kept node indices (B, N') in ``last_indices``.
    """

    def __init__(self, k: float, in_dim: int, p: float) -> None:
        super().__init__()
        self.k = k
        self.proj = nn.Linear(in_dim, 1)
        self.drop = nn.Dropout(p=p) if p > 0 else nn.Identity()
        self.keep_indices = False
        self.last_indices: torch.Tensor | None = None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        scores = torch.sigmoid(self.proj(self.drop(h)))  # (B, N, 1)
        n_keep = max(int(h.size(1) * self.k), 1)
        # Gathering first and scaling the kept nodes by their (top-k) scores equals the official
        # "scale every node, then gather", with less work.
        top, idx = torch.topk(scores, n_keep, dim=1)
        if self.keep_indices:
            self.last_indices = idx.squeeze(-1).detach()
        return torch.gather(h, 1, idx.expand(-1, -1, h.size(2))) * top


def _in_place(module: nn.Module) -> bool:
    """Whether ``module`` may overwrite activations that autograd does not keep: while training with gradients
    (saves ~1 GB tensors at batch 16). Inference and export stay out of place (the ONNX Runtime graph rewrite
    of runtime.onnx expects it)."""
    return module.training and torch.is_grad_enabled()


class ResidualBlock(nn.Module):
    """Residual block of the encoder (official ``Residual_block``): (B, in, S, T) -> (B, out, S, T // 3).

    conv(2x3, pad 1) -> BN -> SELU -> conv(2x3, pad (0, 1)), plus the input (through a 1x3 conv when the
    channel count changes), then max-pool (1, 3). The two (2, 3) convolutions keep the spectral size S.
    """

    def __init__(self, nb_filts: Sequence[int], first: bool = False) -> None:
        super().__init__()
        self.first = first
        if not first:
            self.bn1 = nn.BatchNorm2d(num_features=nb_filts[0])
        self.conv1 = nn.Conv2d(nb_filts[0], nb_filts[1], kernel_size=(2, 3), padding=(1, 1), stride=1)
        # nn.Module: runtime.fast folds it into conv1 for inference and leaves an Identity.
        self.bn2: nn.Module = nn.BatchNorm2d(num_features=nb_filts[1])
        self.conv2 = nn.Conv2d(nb_filts[1], nb_filts[1], kernel_size=(2, 3), padding=(0, 1), stride=1)
        self.downsample = nb_filts[0] != nb_filts[1]
        if self.downsample:
            self.conv_downsample = nn.Conv2d(
                nb_filts[0], nb_filts[1], padding=(0, 1), kernel_size=(1, 3), stride=1
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.first and self.training:
            # Official quirk: the pre-activation SELU(bn1(x)) is computed and then discarded (conv1 reads x,
            # not it). Its only effect is that training updates bn1's running statistics, which end up in the
            # state_dict; reproduced here (without the unused SELU). bn1's weight and bias get no gradient.
            with torch.no_grad():
                self.bn1(x)
        # Batch norm and convolution keep their inputs, not outputs: two ~1 GB tensors fewer in training.
        inplace = _in_place(self)
        out = self.conv2(F.selu(self.bn2(self.conv1(x)), inplace=inplace))
        identity = self.conv_downsample(x) if self.downsample else x
        return F.max_pool2d(out.add_(identity) if inplace else out + identity, (1, 3))


class AASIST(nn.Module):
    """AASIST spoofing countermeasure: raw 16 kHz waveform (B, T) -> logits (B, 2), column 1 = bona fide.

    Hyper-parameters (defaults: the official AASIST-L; ``OFFICIAL_ARCHS["AASIST"]`` holds the full model's):

    - ``nb_samp``: the training input length. The network itself takes any length >= ``min_length``.
    - ``first_conv``: sinc filter length (>= 1); an even value becomes odd (+1), as the official SincConv
      does.
    - ``filts``: ``[sinc channels (>= 3), [in, out] x 4]`` of the residual encoder (blocks 5 and 6 repeat the
      last).
    - ``gat_dims``: ``[GAT-S/GAT-T width, heterogeneous GAT width]``; the hidden layer has
      ``5 * gat_dims[1]`` features.
    - ``pool_ratios``: graph pooling ratios of GAT-S, GAT-T and (third value) of all four heterogeneous
      branches. Official quirk: ``pool_ratios[3]`` is not used.
    - ``temperatures``: attention temperatures of GAT-S, GAT-T and (third value) of the four heterogeneous
      layers. Official quirk: ``temperatures[3]`` is not used.
    - ``freq_mask_width``: frequency masking (the official ``Freq_aug``), in training mode only: a band of
      ``w`` adjacent sinc channels starting at ``s`` is zeroed for the whole batch, ``w`` uniform in
      ``0 .. freq_mask_width - 1`` (the official ``int(uniform(0, 20))``; also at most the number of
      channels), ``s`` uniform in ``0 .. filts[0] - w``; drawn from torch's global RNG. 0 disables it.

    Input: float (B, T) with T >= ``min_length``; a 1-D waveform (T,) is treated as a batch of one (output
    (1, 2)). Floating inputs of another dtype (float64, float16) are cast to the model's dtype.

    ``model(x, return_hidden=True)`` also returns the last hidden layer (B, 5 * gat_dims[1]), taken before the
    final dropout.

    Attention maps: ``model.set_keep_attention(True)`` makes every graph layer keep its last attention map
    (detached) after each forward: ``GAT_layer_S.last_attention`` (B, S, S) over spectral nodes,
    ``GAT_layer_T.last_attention`` (B, T, T) over temporal nodes, ``HtrgGAT_layer_ST*.last_attention`` over
    [temporal nodes, spectral nodes] and ``.last_master_attention`` (the master node's attention); the graph
    pools keep which nodes survived in ``pool_*.last_indices`` (indices into their input nodes, best first).
    A forward hook on a layer sees the same maps through those attributes.
    """

    pos_S: nn.Parameter

    def __init__(
        self,
        nb_samp: int = 64600,
        first_conv: int = 128,
        filts: Sequence[Any] = (70, (1, 32), (32, 32), (32, 24), (24, 24)),
        gat_dims: Sequence[int] = (24, 32),
        pool_ratios: Sequence[float] = (0.4, 0.5, 0.7, 0.5),
        temperatures: Sequence[float] = (2.0, 2.0, 100.0, 100.0),
        freq_mask_width: int = 20,
    ) -> None:
        super().__init__()
        self.config = check_hparams(
            nb_samp=nb_samp,
            first_conv=first_conv,
            filts=filts,
            gat_dims=gat_dims,
            pool_ratios=pool_ratios,
            temperatures=temperatures,
            freq_mask_width=freq_mask_width,
        )
        filts, gat_dims = self.config["filts"], self.config["gat_dims"]
        pool_ratios, temperatures = self.config["pool_ratios"], self.config["temperatures"]
        self.nb_samp = self.config["nb_samp"]
        self.freq_mask_width = self.config["freq_mask_width"]

        # Creation order as the official code, so that a seeded initialisation draws the same numbers.
        self.conv_time = SincConv(out_channels=filts[0], kernel_size=first_conv)
        self.first_bn = nn.BatchNorm2d(num_features=1)
        self.drop = nn.Dropout(0.5)
        self.drop_way = nn.Dropout(0.2)
        # Official layout (a Sequential of one-block Sequentials) kept for the state_dict names
        # encoder.<i>.0.*.
        self.encoder = nn.Sequential(
            nn.Sequential(ResidualBlock(filts[1], first=True)),
            nn.Sequential(ResidualBlock(filts[2])),
            nn.Sequential(ResidualBlock(filts[3])),
            nn.Sequential(ResidualBlock(filts[4])),
            nn.Sequential(ResidualBlock(filts[4])),
            nn.Sequential(ResidualBlock(filts[4])),
        )
        # One learnt position per spectral node: filts[0] sinc channels max-pooled by 3 (official: hard-coded
        # 23, which is 70 // 3).
        self.pos_S = nn.Parameter(torch.randn(1, filts[0] // 3, filts[-1][-1]))
        self.master1 = nn.Parameter(torch.randn(1, 1, gat_dims[0]))
        self.master2 = nn.Parameter(torch.randn(1, 1, gat_dims[0]))

        self.GAT_layer_S = GraphAttentionLayer(filts[-1][-1], gat_dims[0], temperature=temperatures[0])
        self.GAT_layer_T = GraphAttentionLayer(filts[-1][-1], gat_dims[0], temperature=temperatures[1])
        self.HtrgGAT_layer_ST11 = HtrgGraphAttentionLayer(
            gat_dims[0], gat_dims[1], temperature=temperatures[2]
        )
        self.HtrgGAT_layer_ST12 = HtrgGraphAttentionLayer(
            gat_dims[1], gat_dims[1], temperature=temperatures[2]
        )
        self.HtrgGAT_layer_ST21 = HtrgGraphAttentionLayer(
            gat_dims[0], gat_dims[1], temperature=temperatures[2]
        )
        self.HtrgGAT_layer_ST22 = HtrgGraphAttentionLayer(
            gat_dims[1], gat_dims[1], temperature=temperatures[2]
        )

        self.pool_S = GraphPool(pool_ratios[0], gat_dims[0], 0.3)
        self.pool_T = GraphPool(pool_ratios[1], gat_dims[0], 0.3)
        self.pool_hS1 = GraphPool(pool_ratios[2], gat_dims[1], 0.3)
        self.pool_hT1 = GraphPool(pool_ratios[2], gat_dims[1], 0.3)
        self.pool_hS2 = GraphPool(pool_ratios[2], gat_dims[1], 0.3)
        self.pool_hT2 = GraphPool(pool_ratios[2], gat_dims[1], 0.3)

        self.out_layer = nn.Linear(5 * gat_dims[1], 2)

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike[str], **overrides: Any) -> AASIST:
        """A model with pretrained weights loaded strictly, in eval mode.

        ``name_or_path``: ``"AASIST-L"`` / ``"AASIST"`` (found as described in
        ``aasist_lightning.models.weights``: ``$AASIST_WEIGHTS_DIR``, the per-user cache, then a verified
        download), or a path to a ``.pth`` state_dict or a training run's ``.ckpt``. Hyper-parameters come
        from the matching ``OFFICIAL_ARCHS`` entry (for a path: the official architecture whose shapes the
        file has, else AASIST-L), then those a ``.ckpt`` stores, then ``overrides`` (e.g. ``first_conv=256``
        on official weights). An override may not change the network a checkpoint's weights were trained in
        (``NETWORK_KEYS``): ``first_conv``, ``pool_ratios`` and ``temperatures`` leave no trace in the
        weights, so a strict load would not notice.
        """
        unknown = sorted(set(overrides) - set(ARCH_KEYS))
        if unknown:
            raise ValueError(f"unknown hyper-parameter(s) {unknown}; valid overrides: {list(ARCH_KEYS)}")
        path = resolve_weights(name_or_path)
        state_dict, stored = read_weights(path)
        changed = [
            (
                key,
                overrides[key],
                f"{path} was trained with {key}={_plain(stored[key])}: pass that or leave it out",
            )
            for key in NETWORK_KEYS
            if key in stored
            and key in overrides
            and _as_built(key, overrides[key]) != _as_built(key, stored[key])
        ]
        if changed:
            raise HyperParameterError(changed)
        arch = official_name(str(name_or_path)) or guess_arch(state_dict) or "AASIST-L"
        model = cls(**{**OFFICIAL_ARCHS[arch], **stored, **overrides})
        load_weights_into(model, state_dict, source=f"weights file {path}")
        return model.eval()

    # ------------------------------------------------------------------ shape arithmetic
    @property
    def kernel_size(self) -> int:
        """The sinc filter length actually used (``first_conv``, made odd)."""
        return self.conv_time.kernel_size

    @property
    def min_length(self) -> int:
        """Shortest input (samples) that leaves one temporal node after all the time pooling."""
        return TIME_POOL + self.kernel_size - 1

    def num_nodes(self, length: int) -> tuple[int, int]:
        """(spectral, temporal) graph nodes the encoder produces for an input of ``length`` samples."""
        return self.config["filts"][0] // 3, (length - self.kernel_size + 1) // TIME_POOL

    def set_keep_attention(self, enabled: bool = True) -> None:
        """Make every graph layer keep its last attention map and every graph pool its kept node indices."""
        for module in self.modules():
            if isinstance(module, GraphAttentionLayer | HtrgGraphAttentionLayer):
                module.keep_attention = enabled
            elif isinstance(module, GraphPool):
                module.keep_indices = enabled

    # ------------------------------------------------------------------ forward
    def forward(
        self, x: torch.Tensor, return_hidden: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        x = self._check_input(x)
        band = self._draw_freq_mask() if self.training and self.freq_mask_width > 0 else None
        x = self.conv_time(x.unsqueeze(1), band)  # (B, C, T')
        # Official: |sinc| pooled by 3 over channels *and* time, so a masked channel only vanishes from the
        # pooled map where its whole group of three is masked.
        x = F.max_pool2d(torch.abs(x).unsqueeze(1), (3, 3))  # (B, 1, C // 3, T' // 3)
        x = F.selu(self.first_bn(x), inplace=_in_place(self))
        e = torch.abs(self.encoder(x))  # (B, F, S, T)

        # Spectral graph: max over time, plus the positional embedding. torch.max (not amax) routes the
        # gradient to one maximum, as the official code.
        e_S = e.max(dim=3).values.transpose(1, 2) + self.pos_S  # (B, S, F)
        out_S = self.pool_S(self.GAT_layer_S(e_S))
        # Temporal graph: max over frequency, no positional embedding (official).
        e_T = e.max(dim=2).values.transpose(1, 2)  # (B, T, F)
        out_T = self.pool_T(self.GAT_layer_T(e_T))

        # Two parallel heterogeneous branches. Official quirk: the code also makes batch-expanded copies of
        # the master nodes but then passes the (1, 1, D) parameters, which broadcast to the same result.
        out_T1, out_S1, master1 = self._branch(
            out_T,
            out_S,
            self.master1,
            self.HtrgGAT_layer_ST11,
            self.HtrgGAT_layer_ST12,
            self.pool_hS1,
            self.pool_hT1,
        )
        out_T2, out_S2, master2 = self._branch(
            out_T,
            out_S,
            self.master2,
            self.HtrgGAT_layer_ST21,
            self.HtrgGAT_layer_ST22,
            self.pool_hS2,
            self.pool_hT2,
        )
        # Branch dropout, then element-wise max over the two branches (dropout draws in the official order).
        out_T1, out_T2 = self.drop_way(out_T1), self.drop_way(out_T2)
        out_S1, out_S2 = self.drop_way(out_S1), self.drop_way(out_S2)
        master1, master2 = self.drop_way(master1), self.drop_way(master2)
        out_T = torch.max(out_T1, out_T2)
        out_S = torch.max(out_S1, out_S2)
        master = torch.max(master1, master2)

        hidden = torch.cat(
            [
                torch.abs(out_T).max(dim=1).values,
                out_T.mean(dim=1),
                torch.abs(out_S).max(dim=1).values,
                out_S.mean(dim=1),
                master.squeeze(1),
            ],
            dim=1,
        )
        logits = self.out_layer(self.drop(hidden))
        return (logits, hidden) if return_hidden else logits

    @staticmethod
    def _branch(
        out_T: torch.Tensor,
        out_S: torch.Tensor,
        master: torch.Tensor,
        layer1: HtrgGraphAttentionLayer,
        layer2: HtrgGraphAttentionLayer,
        pool_S: GraphPool,
        pool_T: GraphPool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Heterogeneous GAT -> pool each node type -> second heterogeneous GAT added as a residual."""
        out_T1, out_S1, master = layer1(out_T, out_S, master)
        out_S1 = pool_S(out_S1)
        out_T1 = pool_T(out_T1)
        aug_T, aug_S, aug_master = layer2(out_T1, out_S1, master)
        return out_T1 + aug_T, out_S1 + aug_S, master + aug_master

    @torch.compiler.disable  # the draw reads the RNG into Python ints: keep it out of torch.compile's graph
    def _draw_freq_mask(self) -> tuple[int, int]:
        """(start, width) of the masked sinc band, from torch's global (CPU) RNG: no device sync."""
        channels = self.config["filts"][0]
        width = int(torch.randint(0, min(self.freq_mask_width, channels + 1), ()))
        start = int(torch.randint(0, channels - width + 1, ()))
        return start, width

    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            hint = "; use torch.from_numpy(x)" if isinstance(x, np.ndarray) else ""
            raise TypeError(
                f"AASIST expects a torch.Tensor waveform (batch, samples), got {type(x).__name__}{hint}"
            )
        if not x.is_floating_point():
            raise ValueError(
                f"AASIST expects a float waveform in [-1, 1], got dtype {x.dtype}; convert it first, "
                "e.g. x.float() / 32768 for 16-bit PCM"
            )
        if x.dim() == 1:  # a single waveform: a batch of one
            x = x.unsqueeze(0)
        elif x.dim() != 2:
            hint = " (a channel axis? use x.squeeze(1))" if x.dim() == 3 and x.size(1) == 1 else ""
            raise ValueError(
                f"AASIST expects a waveform of shape (batch, samples), got shape {tuple(x.shape)}{hint}"
            )
        if x.size(0) == 0:
            raise ValueError("AASIST got an empty batch (shape (0, samples))")
        if x.size(1) < self.min_length:
            raise ValueError(
                f"input of {x.size(1)} samples is too short: with first_conv={self.config['first_conv']} "
                f"AASIST needs at least {self.min_length} samples ({self.min_length / 16000:.3f} s at "
                "16 kHz); pad it, e.g. by repeating it (the data pipeline's pad_or_crop)"
            )
        filters = self.conv_time.filters
        if x.device != filters.device:
            raise ValueError(f"input is on {x.device} but the model is on {filters.device}: move one of them")
        if self.training and x.size(0) == 1:
            spectral, temporal = self.num_nodes(x.size(1))
            if min(spectral, temporal) < 2:
                raise ValueError(
                    "training with batch size 1 needs at least 2 spectral and 2 temporal graph nodes for "
                    f"the graph batch norms; this input gives {spectral} spectral "
                    f"(filts[0]={self.config['filts'][0]}) and {temporal} temporal nodes: use a batch of "
                    f">= 2, or filts[0] >= 6 and inputs of >= {2 * TIME_POOL + self.kernel_size - 1} samples"
                )
        return x if x.dtype == filters.dtype else x.to(filters.dtype)

    def extra_repr(self) -> str:
        c = self.config
        return (
            f"first_conv={c['first_conv']}, filts={c['filts']}, gat_dims={c['gat_dims']}, "
            f"pool_ratios={c['pool_ratios']}, temperatures={c['temperatures']}, "
            f"freq_mask_width={c['freq_mask_width']}"
        )


def _xavier_param(*size: int) -> nn.Parameter:
    out = nn.Parameter(torch.empty(*size))
    nn.init.xavier_normal_(out)
    return out


def _node_batch_norm(bn: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm1d over every node of every example, (B, N, D) seen as (B * N, D): official ``_apply_BN``."""
    return bn(x.reshape(-1, x.size(-1))).view(x.shape)


def _plain(value: Any) -> Any:
    """Any sequence (tuple, list, a config's list node) -> plain lists, recursively; strings stay strings."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    return value


def _as_built(key: str, value: Any) -> Any:
    """A network hyper-parameter as the network uses it: ``first_conv`` made odd, the 4th pool ratio and
    temperature dropped (unused: official quirk)."""
    value = _plain(value)
    if key == "first_conv" and is_integer(value) and value >= 1:
        return odd_kernel_size(value)
    if key in ("pool_ratios", "temperatures") and isinstance(value, list):
        return value[:3]
    return value


class HyperParameterError(ValueError):
    """Invalid AASIST hyper-parameters. ``problems`` holds ``(name, value, why)`` for each, so that a caller
    (e.g. the training config checks) can report them under its own key names."""

    def __init__(self, problems: list[tuple[str, Any, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"AASIST hyper-parameter {k}={v!r}: {why}" for k, v, why in problems))


def _filts_problems(filts: Any) -> Iterator[str]:
    if not isinstance(filts, list) or len(filts) != 5:
        yield "must be [sinc_channels, [in, out], [in, out], [in, out], [in, out]]"
        return
    if not is_integer(filts[0]) or filts[0] < 3:
        yield "filts[0] (number of sinc filters) must be an integer >= 3"
    for i in range(1, 5):
        pair = filts[i]
        if not isinstance(pair, list) or len(pair) != 2 or not all(is_integer(v) and v >= 1 for v in pair):
            yield f"filts[{i}] must be a pair [in_channels, out_channels] of positive integers"
            return
    if filts[1][0] != 1:
        yield "filts[1][0] must be 1 (the encoder input has one channel)"
    for i in range(2, 5):
        if filts[i][0] != filts[i - 1][1]:
            yield (
                f"filts[{i}][0] must equal filts[{i - 1}][1]: block {i} takes {filts[i][0]} channels but "
                f"block {i - 1} outputs {filts[i - 1][1]}"
            )
    if filts[4][0] != filts[4][1]:
        yield "filts[4] must have in == out (it is used for the last three residual blocks)"


_Rule = Callable[[Any], Iterable[str]]


def _int_problems(low: int, why: str) -> _Rule:
    return lambda value: [] if is_integer(value) and value >= low else [why]


def _list_problems(n: int, element_ok: Callable[[Any], bool], why: str) -> _Rule:
    def problems(value: Any) -> list[str]:
        if not isinstance(value, list) or len(value) != n:
            return [f"must be a list of {n} numbers"]
        return [] if all(element_ok(v) for v in value) else [why]

    return problems


#: Hyper-parameter -> its problems, each key on its own (the cross-key rule follows in check_hparams).
_RULES: dict[str, _Rule] = {
    "nb_samp": _int_problems(1, "must be an integer >= 1"),
    "first_conv": _int_problems(1, "must be an integer >= 1"),
    "freq_mask_width": _int_problems(0, "must be an integer >= 0 (0 disables frequency masking)"),
    "filts": _filts_problems,
    "gat_dims": _list_problems(2, lambda d: is_integer(d) and d >= 1, "must be positive integers"),
    "pool_ratios": _list_problems(4, lambda r: is_real(r) and 0 < r <= 1, "each ratio must be in (0, 1]"),
    "temperatures": _list_problems(4, lambda t: is_real(t) and t > 0, "must be positive numbers"),
}


def check_hparams(**hp: Any) -> dict[str, Any]:
    """Validate the hyper-parameters (the keys of ``ARCH_KEYS``); return them as plain Python values.

    The one validator of the network's arguments: ``AASIST.__init__`` calls it, and so do the training
    config checks (before any data or weights are touched). Raises :class:`HyperParameterError` listing
    every invalid hyper-parameter."""
    hp = {k: _plain(v) for k, v in hp.items()}
    problems = [(key, hp[key], why) for key, rule in _RULES.items() for why in rule(hp[key])]
    if not {"first_conv", "nb_samp"} & {key for key, _, _ in problems}:
        min_length = TIME_POOL + odd_kernel_size(hp["first_conv"]) - 1
        if hp["nb_samp"] < min_length:
            why = f"is shorter than the minimum input length {min_length} for first_conv={hp['first_conv']}"
            problems.append(("nb_samp", hp["nb_samp"], why))
    if problems:
        raise HyperParameterError(problems)
    filts = hp["filts"]
    return {
        **{k: int(hp[k]) for k in ("nb_samp", "first_conv", "freq_mask_width")},
        "filts": [int(filts[0])] + [[int(a), int(b)] for a, b in filts[1:]],
        "gat_dims": [int(v) for v in hp["gat_dims"]],
        "pool_ratios": [float(v) for v in hp["pool_ratios"]],
        "temperatures": [float(v) for v in hp["temperatures"]],
    }


__all__ = [
    "AASIST",
    "OFFICIAL_ARCHS",
    "OFFICIAL_WEIGHTS",
    "GraphAttentionLayer",
    "GraphPool",
    "HtrgGraphAttentionLayer",
    "HyperParameterError",
    "ResidualBlock",
    "check_hparams",
]
