# %% [markdown]
# # Checkpoints (safetensors, Hugging Face directories) and the byte-level BPE tokenizer
# Train a small tokenizer, save a model + tokenizer as a Hugging Face directory, load it back.

# %%
import tempfile

import numpy as np

from minireason import Qwen3Model, load_pretrained, save_pretrained, train_bpe
from minireason.config import PRESETS

texts = ["Compute 4821+397. Think step by step.", "Solve 3x+5=2x+9.", "The answer is \\boxed{42}."] * 20
tokenizer = train_bpe(texts, vocab_size=300)
ids = tokenizer.encode("Compute 12+34.")
print("ids:", ids)
print("pieces:", [tokenizer.id_to_token(i) for i in ids])
print("decoded:", tokenizer.decode(ids))

# %%
config = PRESETS["test-tiny"].replace(vocab_size=tokenizer.vocab_size)
model = Qwen3Model.from_config(config, seed=0)
with tempfile.TemporaryDirectory() as directory:
    save_pretrained(directory, model, tokenizer)
    loaded, loaded_tokenizer = load_pretrained(directory)
    same = np.array_equal(model.logits([ids]), loaded.logits([ids]))
    print("saved and reloaded; identical logits:", same)

# %% [markdown]
# The Qwen3 chat template, with and without the thinking block:

# %%
messages = [{"role": "user", "content": "What is 2+2?"}]
print(tokenizer.apply_chat_template(messages, add_generation_prompt=True, enable_thinking=False))
