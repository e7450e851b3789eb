"""A Hugging Face causal LM in this process as a policy: `builtin[:DIR]` (move37's own model)
and `hf:DIR` (any local model directory). Batched sampling with a KV cache: each distinct prefix
is run once, its cache copied for its k samples; every sampled row draws its noise from its
own generator (Gumbel-max), seeded per prefix and sample, so a prefix's samples are the same
alone and in any batch; finished rows leave the batch, so it runs as long as its rows, not as
long as its longest row. Device auto: CUDA when present, with bf16 there; fp32 on a CPU."""

from __future__ import annotations

import inspect

import numpy as np
import torch

from engine.llm.hfdir import is_model_dir
from engine.llm.policy import Candidates, PolicyError, Proposal, Usage
from engine.llm.value import load_value_head


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class LocalPolicy:
    def __init__(self, directory: str, name: str | None = None, device: str = "auto"):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not is_model_dir(directory):
            raise PolicyError(f"{directory} holds no Hugging Face causal language model (config.json and weights).")
        self.device = resolve_device(device)
        dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(directory)
            self.model = AutoModelForCausalLM.from_pretrained(directory, dtype=dtype).to(self.device).eval()
        except (OSError, ValueError, KeyError) as e:
            raise PolicyError(f"cannot load the model in {directory}: {str(e).splitlines()[0]}") from None
        self._setup(name or f"hf:{directory}", directory)

    @classmethod
    def from_model(cls, model, tokenizer, name: str = "in-memory") -> "LocalPolicy":
        """A policy over a model already in memory (training samples from the model it trains)."""
        self = cls.__new__(cls)
        self.model, self.tokenizer = model, tokenizer
        self.device = next(model.parameters()).device
        self._setup(name, None)
        return self

    def _setup(self, name: str, directory: str | None) -> None:
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
        self.eos = self.tokenizer.eos_token_id
        self.name, self.directory = name, directory
        self.usage = Usage()
        self._pieces: dict[int, str] = {}
        params = inspect.signature(self.model.forward).parameters  # transformers 5 renames the cache argument
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self.value_head = load_value_head(directory, self.model.config.hidden_size, self.device)

    # ---- helpers ------------------------------------------------------------------------------
    def _piece(self, token: int) -> str:
        piece = self._pieces.get(token)
        if piece is None:
            piece = self._pieces[token] = self.tokenizer.decode([token])
        return piece

    def encode(self, text: str) -> list[int]:
        return self.bos + self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _batch(self, ids: list[list[int]]):
        width = max(len(x) for x in ids)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(x)) + x for x in ids], device=self.device)
        mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids], device=self.device)
        return input_ids, mask

    @torch.inference_mode()
    def _prefill(self, ids: list[list[int]]):
        input_ids, mask = self._batch(ids)
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        out = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=True)
        return out.logits[:, -1].float(), _cache_of(out), mask

    # ---- the protocol -------------------------------------------------------------------------
    @torch.inference_mode()
    def propose(self, prefixes: list[str], k: int, stop: tuple[str, ...], seeds: list[int],
                temperature: float = 1.0, max_tokens: int = 32, top: int = 0) -> list[Candidates]:
        """As the protocol says; `top` > 0 also records each token's `top` likeliest alternatives
        (what an OpenAI server's `logprobs=N` returns)."""
        if not prefixes:
            return []
        k = 1 if temperature == 0 else k
        ids = [self.encode(p) for p in prefixes]
        logits, cache, mask = self._prefill(ids)
        rows = len(prefixes) * k
        if k > 1:
            logits = logits.repeat_interleave(k, 0)
            cache.batch_repeat_interleave(k)
            mask = mask.repeat_interleave(k, 0)
        gens = [torch.Generator().manual_seed(int(seeds[r // k]) * 1_000_003 + r % k) for r in range(rows)]
        next_pos = mask.sum(1, keepdim=True)  # each row's next position
        out_ids = [[] for _ in range(rows)]
        token_logps = [[] for _ in range(rows)]
        tops = [[] for _ in range(rows)]
        done = np.zeros(rows, bool)
        texts = [""] * rows
        live = np.arange(rows)  # the rows still in the batch, in batch order (finished ones are pruned)
        for _ in range(max_tokens):
            logp = torch.log_softmax(logits, dim=-1)
            if temperature == 0:
                chosen = logp.argmax(-1)
            else:
                noise = torch.stack([torch.rand(logp.shape[1], generator=gens[r]) for r in live]).to(self.device)
                gumbel = -torch.log(-torch.log(noise.clamp(1e-20, 1.0 - 1e-7)))
                chosen = (logp / temperature + gumbel).argmax(-1)
            picked = logp.gather(1, chosen[:, None])[:, 0].tolist()
            chosen_list = chosen.tolist()
            if top > 0:
                top_v, top_i = (x.tolist() for x in logp.topk(min(top, logp.shape[1]), -1))
            for j, r in enumerate(live):
                if done[r]:
                    continue
                tok = chosen_list[j]
                out_ids[r].append(tok)
                token_logps[r].append(picked[j])
                if top > 0:
                    tops[r].append({self._piece(i): v for i, v in zip(top_i[j], top_v[j])})
                if tok == self.eos:
                    done[r] = True
                    texts[r] = ""
                    continue
                texts[r] += self._piece(tok)  # the stop check reads pieces; the text is decoded once below
                if any(s in texts[r] for s in stop):
                    text = self.tokenizer.decode(out_ids[r])
                    hits = [text.index(s) + len(s) for s in stop if s in text]
                    texts[r] = text[:min(hits)] if hits else text
                    done[r] = True
            if done.all():
                break
            going = ~done[live]
            if going.sum() <= 0.75 * len(live):  # drop finished rows: the batch shrinks as rows end
                keep = torch.from_numpy(np.flatnonzero(going)).to(self.device)
                live, chosen, mask, next_pos = live[going], chosen[keep], mask[keep], next_pos[keep]
                cache.batch_select_indices(keep)
            mask = torch.cat([mask, torch.ones(len(live), 1, dtype=mask.dtype, device=self.device)], 1)
            out = self.model(input_ids=chosen[:, None], attention_mask=mask, position_ids=next_pos,
                             use_cache=True, **{self._cache_arg: cache})
            cache, logits = _cache_of(out), out.logits[:, -1].float()
            next_pos = next_pos + 1
        result = []
        generated = 0
        for i, prefix_ids in enumerate(ids):
            props = []
            for r in range(i * k, (i + 1) * k):
                props.append(Proposal(texts[r] if done[r] else self.tokenizer.decode(out_ids[r]),
                                      float(sum(token_logps[r])), len(out_ids[r]), tuple(out_ids[r]),
                                      tuple(token_logps[r]), tuple(tops[r])))
                generated += len(out_ids[r])
            result.append(Candidates(props, len(prefix_ids)))
        self.usage.add(generated, sum(len(x) for x in ids))
        return result

    def last_hidden(self, prefixes: list[str]) -> torch.Tensor:
        """The model's last hidden state at the end of each prefix (what the value head reads)."""
        ids = [self.encode(p) for p in prefixes]
        input_ids, mask = self._batch(ids)
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        out = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions, output_hidden_states=True)
        self.usage.add(0, sum(map(len, ids)))
        return out.hidden_states[-1][:, -1]

    @torch.inference_mode()
    def value(self, prefixes: list[str]) -> np.ndarray | None:
        """The value head's estimate in [-1, 1] for each prefix; None without a value head."""
        if self.value_head is None:
            return None
        return self.value_head(self.last_hidden(prefixes)).float().cpu().numpy()

    @torch.inference_mode()
    def score(self, prefixes: list[str], continuations: list[str]) -> list[float]:
        heads = [self.encode(p) for p in prefixes]
        tails = [self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in continuations]
        rows = self._token_logprobs([h + t for h, t in zip(heads, tails)])
        self.usage.add(0, sum(len(h) + len(t) for h, t in zip(heads, tails)))
        return [float(sum(values[len(values) - len(t):])) if t else 0.0 for (values, _), t in zip(rows, tails)]

    @torch.inference_mode()
    def echo(self, texts: list[str], top: int = 0) -> list[list[tuple[str, float | None, dict]]]:
        """Each text's tokens (after the BOS) as (piece, log-probability in context, the `top`
        likeliest alternatives): what a server's `echo` returns. A text's first token has no
        log-probability (None) only where the model has no BOS to condition it on."""
        ids = [self.encode(t) for t in texts]
        tables = self._token_logprobs(ids, top)
        self.usage.add(0, sum(map(len, ids)))
        out = []
        for row, (values, alts) in zip(ids, tables):
            values, alts = [None] + values, [{}] + alts  # aligned to the row's tokens
            skip = len(self.bos)
            out.append([(self._piece(t), v, a) for t, v, a in zip(row[skip:], values[skip:], alts[skip:])])
        return out

    def _token_logprobs(self, ids: list[list[int]], top: int = 0):
        """Per row, (the log-probability of each token after the first, the `top` likeliest
        alternatives at each, or empty dicts): aligned to the row's tokens from its second on."""
        input_ids, mask = self._batch(ids)
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        logits = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions).logits.float()
        logp = torch.log_softmax(logits[:, :-1], -1)
        picked = logp.gather(2, input_ids[:, 1:, None])[:, :, 0]
        width = input_ids.shape[1]
        out = []
        for i, row in enumerate(ids):
            span = slice(width - len(row), width - 1)
            values = picked[i, span].tolist()
            if not top:
                out.append((values, [{} for _ in values]))
                continue
            tv, ti = (x.tolist() for x in logp[i, span].topk(min(top, logp.shape[-1]), -1))
            out.append((values, [{self._piece(a): b for a, b in zip(ii, vv)} for ii, vv in zip(ti, tv)]))
        return out


def _cache_of(out):
    return out.cache if getattr(out, "cache", None) is not None else out.past_key_values
