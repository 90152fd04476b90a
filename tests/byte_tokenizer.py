"""A stand-in tokenizer for generation tests: token id = byte value (0..255), then eos and pad."""

from __future__ import annotations

EOS = 256
PAD = 257


class ByteTokenizer:
    """Encodes UTF-8 bytes; decodes like byte-level BPE (ids outside 0..255 are dropped)."""

    def __init__(self, eos_token_id=EOS, pad_token_id=PAD):
        self.eos_token_id = eos_token_id
        self.pad_token_id = pad_token_id

    def encode(self, text):
        return list(text.encode("utf-8"))

    def decode(self, ids):
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")
