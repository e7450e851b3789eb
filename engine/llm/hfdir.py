"""The built-in language model as a standard Hugging Face model directory: a small decoder-only
transformer of a stock architecture (Llama) and a tokenizer made with the `tokenizers` library, saved as `config.json`, `model.safetensors`, `tokenizer.json` and
`tokenizer_config.json`, so that transformers' AutoModelForCausalLM and AutoTokenizer, TRL and
vLLM load it unchanged.

The tokenizer has one token per character (newline and printable ASCII) and four specials.
Number tokens (digit groups of up to three as one token each) were tried, since choosing a
Countdown operand is then copying a single token: pretraining learned more slowly with them
(3% of sampled steps legal after 875 steps, against 8% after 500 with characters, same settings)
and each step cost more (docs/LLM.md).
"""

from __future__ import annotations

import os
import string

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # no progress bars or notices on our output
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded at run time

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
CHARACTERS = "\n" + "".join(chr(c) for c in range(32, 127))  # newline and printable ASCII
SIZES = {  # name -> (layers, width, heads)
    "tiny": (2, 64, 4),  # tests
    "small": (4, 128, 4),  # the built-in default: about 0.8M parameters, minutes on 2 CPU cores
}


def make_tokenizer():
    """A PreTrainedTokenizerFast with one token per character (anything else is <unk>)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate([PAD, BOS, EOS, UNK, *CHARACTERS])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token=BOS, eos_token=EOS, pad_token=PAD,
                                   unk_token=UNK, padding_side="left", clean_up_tokenization_spaces=False)


def make_model(tokenizer, size: str = "small", max_length: int = 256, seed: int = 0):
    """A randomly initialised Llama causal LM sized by `SIZES[size]`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    layers, width, heads = SIZES[size]
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=width, intermediate_size=4 * width,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                         max_position_embeddings=max_length, tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def save(model, tokenizer, directory: str) -> None:
    """Write a model directory atomically: into a sibling `.tmp` directory, then renamed over the
    old one (kept as `.old` between the two renames). A save killed at any point leaves the last
    complete model readable (`model_dir` falls back to `.old`), and the next save starts clean."""
    import shutil

    directory = directory.rstrip("/")
    tmp, old = directory + ".tmp", directory + ".old"
    os.makedirs(os.path.dirname(os.path.abspath(directory)), exist_ok=True)
    recover(directory)
    shutil.rmtree(tmp, ignore_errors=True)  # a killed save's partial files must not survive
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    if os.path.isdir(directory):
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)


def recover(directory: str) -> None:
    """Undo what a killed `save` left: the model put back from `.old` when it was killed between
    its renames, a stale `.old` removed when the new directory is complete. For writers only; a
    reader uses `last_complete`, which changes nothing on disk."""
    import shutil

    directory = directory.rstrip("/")
    old = directory + ".old"
    if not os.path.isdir(old):
        return
    if not os.path.exists(directory) and is_model_dir(old):
        os.replace(old, directory)
    else:
        shutil.rmtree(old, ignore_errors=True)


def last_complete(directory: str) -> str | None:
    """`directory` when it holds a model, else the `.old` a save killed between its renames left."""
    directory = directory.rstrip("/")
    for candidate in (directory, directory + ".old"):
        if is_model_dir(candidate):
            return candidate
    return None


def is_model_dir(directory: str) -> bool:
    return os.path.isfile(os.path.join(directory, "config.json")) and any(
        os.path.isfile(os.path.join(directory, f)) for f in ("model.safetensors", "pytorch_model.bin",
                                                             "model.safetensors.index.json"))


assert len(set(CHARACTERS)) == len(CHARACTERS) and set(string.digits) <= set(CHARACTERS)
