"""model.py - a small CLIP in PyTorch whose state_dict uses Hugging Face's
CLIPModel tensor names and layout, so it exports to a directory that
transformers and the C engine both load. Training-side only: no tokenizer,
no preprocessing, no checkpoint I/O (see export.py)."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


class Attention(nn.Module):
    def __init__(self, width, n_head):
        super().__init__()
        self.n_head = n_head
        self.q_proj = nn.Linear(width, width)
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, x, mask=None):
        # x: (B, T, D); mask: additive (T, T) or None
        B, T, D = x.shape
        hd = D // self.n_head
        q = self.q_proj(x).view(B, T, self.n_head, hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.n_head, hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_head, hd).transpose(1, 2)
        att = (q * (hd ** -0.5)) @ k.transpose(-1, -2)  # (B, H, T, T)
        if mask is not None:
            att = att + mask
        y = att.softmax(dim=-1) @ v
        return self.out_proj(y.transpose(1, 2).reshape(B, T, D))


class MLP(nn.Module):
    def __init__(self, width, hidden):
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x):
        return self.fc2(quick_gelu(self.fc1(x)))


class EncoderLayer(nn.Module):
    """Pre-LN block, as HF CLIPEncoderLayer."""

    def __init__(self, width, n_head, hidden, eps):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(width, eps=eps)
        self.self_attn = Attention(width, n_head)
        self.layer_norm2 = nn.LayerNorm(width, eps=eps)
        self.mlp = MLP(width, hidden)

    def forward(self, x, mask=None):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class Encoder(nn.Module):
    def __init__(self, n_layer, width, n_head, hidden, eps):
        super().__init__()
        self.layers = nn.ModuleList(
            [EncoderLayer(width, n_head, hidden, eps) for _ in range(n_layer)])

    def forward(self, x, mask=None):
        for layer in self.layers:
            x = layer(x, mask)
        return x


class VisionEmbeddings(nn.Module):
    def __init__(self, width, image_size, patch_size):
        super().__init__()
        self.class_embedding = nn.Parameter(torch.randn(width) * width ** -0.5)
        self.patch_embedding = nn.Conv2d(3, width, patch_size, patch_size,
                                         bias=False)
        n_pos = (image_size // patch_size) ** 2 + 1
        self.position_embedding = nn.Embedding(n_pos, width)

    def forward(self, pixel_values):
        # pixel_values: (B, 3, S, S) -> (B, 1 + n_patch, D)
        x = self.patch_embedding(pixel_values).flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        return torch.cat([cls, x], dim=1) + self.position_embedding.weight


class VisionModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = VisionEmbeddings(c["hidden_size"], c["image_size"],
                                           c["patch_size"])
        eps = c["layer_norm_eps"]
        self.pre_layrnorm = nn.LayerNorm(c["hidden_size"], eps=eps)
        self.encoder = Encoder(c["num_hidden_layers"], c["hidden_size"],
                               c["num_attention_heads"],
                               c["intermediate_size"], eps)
        self.post_layernorm = nn.LayerNorm(c["hidden_size"], eps=eps)

    def forward(self, pixel_values):
        x = self.pre_layrnorm(self.embeddings(pixel_values))
        x = self.encoder(x)
        return self.post_layernorm(x[:, 0])


class TextEmbeddings(nn.Module):
    def __init__(self, vocab_size, width, n_pos):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.position_embedding = nn.Embedding(n_pos, width)

    def forward(self, ids):
        T = ids.shape[1]
        return self.token_embedding(ids) + self.position_embedding.weight[:T]


class TextModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.eos_token_id = c["eos_token_id"]
        self.embeddings = TextEmbeddings(c["vocab_size"], c["hidden_size"],
                                         c["max_position_embeddings"])
        eps = c["layer_norm_eps"]
        self.encoder = Encoder(c["num_hidden_layers"], c["hidden_size"],
                               c["num_attention_heads"],
                               c["intermediate_size"], eps)
        self.final_layer_norm = nn.LayerNorm(c["hidden_size"], eps=eps)

    def forward(self, ids):
        # ids: (B, T) int64, padded after the end token with anything
        T = ids.shape[1]
        mask = torch.full((T, T), float("-inf")).triu(1)
        x = self.encoder(self.embeddings(ids), mask)
        x = self.final_layer_norm(x)
        # pool at the first end token (HF with eos_token_id == 49407)
        pos = (ids == self.eos_token_id).int().argmax(dim=1)
        return x[torch.arange(ids.shape[0]), pos]


class TinyCLIP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        tc, vc = config["text_config"], config["vision_config"]
        p = config["projection_dim"]
        self.text_model = TextModel(tc)
        self.vision_model = VisionModel(vc)
        self.visual_projection = nn.Linear(vc["hidden_size"], p, bias=False)
        self.text_projection = nn.Linear(tc["hidden_size"], p, bias=False)
        self.logit_scale = nn.Parameter(
            torch.tensor(config["logit_scale_init_value"]))
        self._init_weights()

    def _init_weights(self):
        # HF CLIPPreTrainedModel._init_weights with initializer_factor 1
        tc, vc = self.config["text_config"], self.config["vision_config"]
        for tower, c in ((self.text_model, tc), (self.vision_model, vc)):
            D, L = c["hidden_size"], c["num_hidden_layers"]
            in_std = D ** -0.5 * (2 * L) ** -0.5
            for layer in tower.encoder.layers:
                for lin in (layer.self_attn.q_proj, layer.self_attn.k_proj,
                            layer.self_attn.v_proj):
                    nn.init.normal_(lin.weight, std=D ** -0.5)
                nn.init.normal_(layer.self_attn.out_proj.weight, std=in_std)
                nn.init.normal_(layer.mlp.fc1.weight, std=(2 * D) ** -0.5)
                nn.init.normal_(layer.mlp.fc2.weight, std=in_std)
                for lin in (layer.self_attn.q_proj, layer.self_attn.k_proj,
                            layer.self_attn.v_proj, layer.self_attn.out_proj,
                            layer.mlp.fc1, layer.mlp.fc2):
                    nn.init.zeros_(lin.bias)
        te = self.text_model.embeddings
        nn.init.normal_(te.token_embedding.weight, std=0.02)
        nn.init.normal_(te.position_embedding.weight, std=0.02)
        ve = self.vision_model.embeddings
        nn.init.normal_(ve.patch_embedding.weight, std=0.02)
        nn.init.normal_(ve.position_embedding.weight, std=0.02)
        nn.init.normal_(self.visual_projection.weight,
                        std=vc["hidden_size"] ** -0.5)
        nn.init.normal_(self.text_projection.weight,
                        std=tc["hidden_size"] ** -0.5)

    def encode_image(self, pixel_values):
        return self.visual_projection(self.vision_model(pixel_values))

    def encode_text(self, ids):
        return self.text_projection(self.text_model(ids))

    def forward(self, pixel_values, ids):
        """Returns logits_per_image (B_img, B_txt)."""
        img = F.normalize(self.encode_image(pixel_values), dim=-1)
        txt = F.normalize(self.encode_text(ids), dim=-1)
        return self.logit_scale.exp() * img @ txt.t()


def contrastive_loss(logits, match):
    """Symmetric CLIP loss with soft targets: match[i, j] is 1 where caption j
    describes image i (several can, when captions repeat or are partial).
    With match = identity this is exactly CLIP's cross-entropy loss."""
    t_img = match / match.sum(1, keepdim=True)
    t_txt = match.t() / match.t().sum(1, keepdim=True)
    l_img = -(t_img * logits.log_softmax(1)).sum(1).mean()
    l_txt = -(t_txt * logits.t().log_softmax(1)).sum(1).mean()
    return 0.5 * (l_img + l_txt)
