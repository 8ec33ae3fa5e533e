"""clip_bpe.py - CLIP's BPE tokenizer (openai simple_tokenizer without ftfy,
the pipeline of tests/data/FIXTURES.md) for the training captions. Uses the
standard library's re, whose \\w-based letter class equals \\p{L} for ASCII:
fine for captions, which are ASCII; not a general-purpose tokenizer."""
import html
import json
import re

SOT, EOT = 49406, 49407

_PAT = re.compile(
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d"
    r"|[^\W\d_]+|\d|(?:[^\s\w]|_)+", re.IGNORECASE)


def _bytes_to_unicode():
    bs = (list(range(ord("!"), ord("~") + 1))
          + list(range(ord("\xa1"), ord("\xac") + 1))
          + list(range(ord("\xae"), ord("\xff") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class ClipBPE:
    def __init__(self, vocab_path, merges_path):
        with open(vocab_path, encoding="utf-8") as f:
            self.encoder = json.load(f)
        with open(merges_path, encoding="utf-8") as f:
            lines = f.read().split("\n")[1:]
        merges = [tuple(l.split()) for l in lines if l.strip()]
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.byte_encoder = _bytes_to_unicode()
        self.cache = {}

    def _bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = [(word[i], word[i + 1]) for i in range(len(word) - 1)]
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            out, i = [], 0
            while i < len(word):
                if (i < len(word) - 1 and word[i] == best[0]
                        and word[i + 1] == best[1]):
                    out.append(best[0] + best[1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = out
        self.cache[token] = word
        return word

    def encode(self, text, context_length=77):
        """ids with start and end token, truncated to context_length."""
        if not text.isascii():
            raise ValueError("ClipBPE handles ASCII captions only: %r" % text)
        text = html.unescape(html.unescape(text)).strip()
        text = re.sub(r"\s+", " ", text).strip().lower()
        ids = [SOT]
        for piece in _PAT.findall(text):
            if piece == "<|startoftext|>":
                ids.append(SOT)
                continue
            if piece == "<|endoftext|>":
                ids.append(EOT)
                continue
            piece = "".join(self.byte_encoder[b] for b in piece.encode())
            ids.extend(self.encoder[t] for t in self._bpe(piece))
        ids = ids[:context_length - 1]
        return ids + [EOT]
