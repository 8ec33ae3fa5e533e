"""Compact CLIP (vision + text towers) in PyTorch, random weights.

Adapted from shared/bench/clip_model.py: the towers take the shapes of a preset
of shapes.py (b32, b16, l14, l14-336; build_tower()). Shapes of ViT-B/32:
  vision: conv 3->768 k=32 s=32 (no bias), class token, pos-emb 50x768, ln_pre,
          12 x pre-LN residual blocks (12 heads, MLP 3072, quick_gelu), ln_post on
          the class token, projection 768->512 (no bias).
  text:   token emb 49408x512, pos-emb 77x512, 12 x blocks (8 heads, MLP 2048,
          quick_gelu, causal mask), ln_final, features at the EOT token
          (argmax of ids), projection 512->512.

attn="mha":    nn.MultiheadAttention(batch_first=True) - in torch 1.13 inference
               mode this can use the fused "fast path" (_native_multi_head_attention).
attn="manual": explicit fused qkv Linear + matmul/softmax/matmul (HF-style).
"""
import torch
import torch.nn as nn

from shapes import PRESETS


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ManualAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.h = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x, mask=None):
        b, n, d = x.shape
        h = self.h
        qkv = self.qkv(x).view(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # b h n dh
        s = torch.matmul(q, k.transpose(-1, -2)) * (d // h) ** -0.5
        if mask is not None:
            s = s + mask
        p = torch.softmax(s, dim=-1)
        o = torch.matmul(p, v).transpose(1, 2).reshape(b, n, d)
        return self.out(o)


class Block(nn.Module):
    def __init__(self, d, heads, attn="mha"):
        super().__init__()
        self.kind = attn
        self.ln_1 = nn.LayerNorm(d)
        if attn == "mha":
            self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        else:
            self.attn = ManualAttention(d, heads)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), QuickGELU(), nn.Linear(4 * d, d))

    def forward(self, x, mask=None):
        y = self.ln_1(x)
        if self.kind == "mha":
            y = self.attn(y, y, y, need_weights=False, attn_mask=mask)[0]
        else:
            y = self.attn(y, mask)
        x = x + y
        return x + self.mlp(self.ln_2(x))


class VisionTower(nn.Module):
    def __init__(self, attn="mha", width=768, layers=12, heads=12, patch=32, res=224, out=512):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch, patch, bias=False)
        n = (res // patch) ** 2 + 1
        self.class_embedding = nn.Parameter(torch.randn(width) * 0.02)
        self.positional_embedding = nn.Parameter(torch.randn(n, width) * 0.01)
        self.ln_pre = nn.LayerNorm(width)
        self.blocks = nn.ModuleList([Block(width, heads, attn) for _ in range(layers)])
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.randn(width, out) * width ** -0.5)

    def forward(self, img):  # img: B x 3 x res x res
        x = self.conv1(img).flatten(2).transpose(1, 2)  # B x patches x width
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.ln_pre(x)
        for blk in self.blocks:
            x = blk(x)
        return self.ln_post(x[:, 0, :]) @ self.proj


class TextTower(nn.Module):
    def __init__(self, attn="mha", width=512, layers=12, heads=8, ctx=77, vocab=49408, out=512):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, width)
        self.positional_embedding = nn.Parameter(torch.randn(ctx, width) * 0.01)
        self.blocks = nn.ModuleList([Block(width, heads, attn) for _ in range(layers)])
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.randn(width, out) * width ** -0.5)
        mask = torch.full((ctx, ctx), float("-inf")).triu_(1)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, ids):  # ids: B x 77 int64, EOT token has the largest id
        x = self.token_embedding(ids) + self.positional_embedding
        for blk in self.blocks:
            x = blk(x, self.mask)
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0]), ids.argmax(dim=-1)]
        return x @ self.text_projection


def random_text(batch, ctx=77, length=12, vocab=49408):
    """SOT + random tokens + EOT (id 49407, the max) then zero padding."""
    ids = torch.zeros(batch, ctx, dtype=torch.long)
    ids[:, 0] = 49406
    ids[:, 1:length - 1] = torch.randint(1, 49000, (batch, length - 2))
    ids[:, length - 1] = vocab - 1
    return ids


def build_tower(preset, tower, attn="mha"):
    """The vision or text tower of a shapes.PRESETS entry."""
    p = PRESETS[preset]
    if tower == "vision":
        return VisionTower(attn, width=p["vw"], layers=p["vl"], heads=p["vh"], patch=p["patch"],
                           res=p["res"], out=p["proj"])
    return TextTower(attn, width=p["tw"], layers=p["tl"], heads=p["th"], out=p["proj"])
