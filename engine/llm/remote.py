"""Any OpenAI-compatible completions server as a policy: `openai:URL[,model=NAME,key=value...]`
(vLLM, llama.cpp's server, SGLang, `move37 serve`).

A step is one `/v1/completions` request per prefix with `n`, `stop`, `max_tokens`,
`temperature`, `seed` and `logprobs`; its log-probability is the sum of the returned
`token_logprobs`. The search reads them as the model's own log-probabilities at temperature 1.
vLLM returns exactly those by default (raw log-probabilities, before temperature or top-p; its
`--logprobs-mode` changes that), and so does `move37 serve`; llama.cpp's server reports
probabilities from its sampler, which are not the raw ones once temperature or top-k act, so
priors from it are an approximation. `score()` sends prefix+continuation and prefix with `echo`
and `max_tokens=0` and takes the difference of the two totals; a server without echo (llama.cpp)
gets NaN scores and one sentence saying so. A server that rejects `n > 1` gets n requests of one
choice each, which share its cached prompt.

Settings (after the URL, comma-separated): model (default: the first the server lists),
concurrency (requests in flight, default 8), timeout (seconds a request may take, default 60),
retries (on 429, 5xx, timeouts and dropped connections, default 3), backoff (first wait in
seconds, doubling, default 0.5), api_key (default: $OPENAI_API_KEY). The key goes only into the
Authorization header: never into the policy's name, messages or run directories.
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from engine.llm.policy import Candidates, PolicyError, Proposal, Usage

SETTINGS = {"model": str, "concurrency": int, "timeout": float, "retries": int, "backoff": float, "api_key": str}


def parse_spec(rest: str) -> tuple[str, dict]:
    """`URL[,key=value...]` -> (URL, settings), every key and value checked."""
    url, *pairs = [p.strip() for p in rest.split(",")]
    if not url.startswith(("http://", "https://")):
        raise PolicyError(f"openai: needs a server address like openai:http://127.0.0.1:8000/v1, not {url!r}.")
    settings = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or key not in SETTINGS:
            raise PolicyError(f"unknown openai: setting {pair.split('=')[0]!r}; valid: {', '.join(SETTINGS)}.")
        try:
            settings[key] = SETTINGS[key](value)
        except ValueError:
            raise PolicyError(f"openai: setting {key} must be a {SETTINGS[key].__name__}, not {value!r}.") from None
        if key in ("concurrency", "timeout") and settings[key] <= 0 or key in ("retries", "backoff") and settings[key] < 0:
            raise PolicyError(f"openai: setting {key} must be {'positive' if key in ('concurrency', 'timeout') else 'at least 0'}.")
    return url.rstrip("/"), settings


class OpenAIPolicy:
    def __init__(self, url: str, model: str | None = None, concurrency: int = 8, timeout: float = 60.0,
                 retries: int = 3, backoff: float = 0.5, api_key: str | None = None, out=None):
        import httpx

        self.url, self.retries, self.backoff = url.rstrip("/"), retries, backoff
        self.out = sys.stderr if out is None else out
        key = api_key or os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(headers=headers, timeout=timeout,
                                   limits=httpx.Limits(max_connections=concurrency))
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="move37-openai")
        self.usage = Usage()
        self.said: set[str] = set()
        self.split_n = False  # the server rejects n > 1: send n requests instead
        self.model = self._pick_model(model)
        self.name = f"openai:{self.url}" + (f",model={model}" if model else "")

    # ---- HTTP ---------------------------------------------------------------------------------
    def _send(self, method: str, path: str, body: dict | None = None) -> dict:
        import httpx

        where = f"the server at {self.url}"
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                r = self.client.request(method, self.url + path, json=body)
            except httpx.ConnectError:
                raise PolicyError(f"cannot connect to {where}: the connection was refused or the host is unknown "
                                  f"(is the server running?).") from None
            except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError) as e:
                if last:
                    kind = "did not answer in time" if isinstance(e, httpx.TimeoutException) else "dropped the connection"
                    raise PolicyError(f"{where} {kind} ({self.retries + 1} tries).") from None
                self._wait(attempt, None)
                continue
            if r.status_code == 429 or r.status_code >= 500:
                if last:
                    raise PolicyError(f"{where} kept failing (HTTP {r.status_code}, {self.retries + 1} tries): "
                                      f"{_message(r)}") from None
                self._wait(attempt, r.headers.get("retry-after"))
                continue
            if r.status_code >= 400:
                raise _Refused(r.status_code, f"{where} refused the request (HTTP {r.status_code}): {_message(r)}")
            try:
                data = r.json()
            except ValueError:
                raise PolicyError(f"{where} sent a response that is not JSON.") from None
            if not isinstance(data, dict):
                raise PolicyError(f"{where} sent JSON that is not an OpenAI response object.")
            return data
        raise AssertionError("unreachable")

    def _wait(self, attempt: int, retry_after) -> None:
        wait = self.backoff * 2 ** attempt
        try:
            wait = min(max(wait, float(retry_after)), 60.0) if retry_after else wait
        except ValueError:
            pass
        time.sleep(wait)

    def _say_once(self, key: str, sentence: str) -> None:
        if key not in self.said:
            self.said.add(key)
            print(f"move37: {sentence}", file=self.out, flush=True)

    def _pick_model(self, model: str | None) -> str | None:
        try:
            listed = self._send("GET", "/models")
        except _Refused:
            return model  # a server without /models: take the name as given
        names = [m.get("id") for m in listed.get("data", []) if isinstance(m, dict)]
        if model is None:
            if not names:
                raise PolicyError(f"the server at {self.url} lists no models; name one with ,model=NAME.")
            return names[0]
        if names and model not in names:
            raise PolicyError(f"the server at {self.url} does not serve the model {model!r}; it serves "
                              f"{', '.join(map(repr, names))}.")
        return model

    # ---- the protocol -------------------------------------------------------------------------
    def propose(self, prefixes: list[str], k: int, stop: tuple[str, ...], seeds: list[int],
                temperature: float = 1.0, max_tokens: int = 32) -> list[Candidates]:
        k = 1 if temperature == 0 else k
        jobs = [self.pool.submit(self._complete, p, k, stop, s, temperature, max_tokens) for p, s in zip(prefixes, seeds)]
        try:
            out = [job.result() for job in jobs]
        except BaseException:
            for job in jobs:  # one failure ends the call: the requests not yet sent are not sent
                job.cancel()
            raise
        self.usage.add(sum(p.tokens for c in out for p in c.proposals), sum(c.prompt_tokens for c in out))
        return out

    def _complete(self, prefix: str, k: int, stop, seed: int, temperature: float, max_tokens: int) -> Candidates:
        body = {"model": self.model, "prompt": prefix, "max_tokens": max_tokens, "temperature": temperature,
                "stop": list(stop), "logprobs": 1, "include_stop_str_in_output": True}
        if not self.split_n:
            try:
                data = self._send("POST", "/completions", dict(body, n=k, seed=int(seed)))
                choices = _choices(data, self.url)
                if len(choices) >= k:
                    return Candidates([self._proposal(c, stop) for c in choices[:k]], _prompt_tokens(data))
            except _Refused as e:
                if k == 1 or not re.search(r"(^|[^a-z_])n([^a-z_]|$)", str(e).split(": ", 1)[-1].lower()):
                    raise PolicyError(str(e)) from None
            self.split_n = True
            self._say_once("n", f"the server at {self.url} does not give n > 1 choices a request; "
                                f"sending one request a choice (they share the server's cached prompt).")
        props, prompt_tokens = [], 0
        for j in range(k):
            try:
                data = self._send("POST", "/completions", dict(body, n=1, seed=int(seed) * 1_000_003 + j))
            except _Refused as e:
                raise PolicyError(str(e)) from None
            choices = _choices(data, self.url)
            if not choices:
                raise PolicyError(f"the server at {self.url} returned no choices.")
            props.append(self._proposal(choices[0], stop))
            prompt_tokens = max(prompt_tokens, _prompt_tokens(data))
        return Candidates(props, prompt_tokens)

    def _proposal(self, choice: dict, stop) -> Proposal:
        text = choice.get("text")
        if not isinstance(text, str):
            raise PolicyError(f"the server at {self.url} sent a choice without text.")
        lp = choice.get("logprobs") or {}
        values = [v for v in (lp.get("token_logprobs") or []) if isinstance(v, (int, float))]
        tokens = [t for t in (lp.get("tokens") or []) if isinstance(t, str)]
        if not values:
            self._say_once("logprobs", f"the server at {self.url} returns no log-probabilities; "
                                       f"step priors fall back to uniform.")
        if not any(text.endswith(s) for s in stop) and choice.get("finish_reason") == "stop":
            text = _restore_stop(text, choice.get("stop_reason"), "".join(tokens), stop)
        count = len(values) or len(tokens) or max(1, len(text))
        return Proposal(text, float(sum(values)), count, (), tuple(float(v) for v in values))

    def score(self, prefixes: list[str], continuations: list[str]) -> list[float]:
        if "echo" in self.said:
            return [math.nan] * len(prefixes)
        texts = [p + c for p, c in zip(prefixes, continuations)] + list(prefixes)
        try:
            data = self._send("POST", "/completions", {"model": self.model, "prompt": texts, "max_tokens": 0,
                                                       "echo": True, "logprobs": 0, "temperature": 0})
            choices = sorted(_choices(data, self.url), key=lambda c: c.get("index", 0))
            totals = [_total(c) for c in choices]
        except (_Refused, _NoEcho):
            totals = []
        if len(totals) != len(texts) or any(t is None for t in totals):
            self._say_once("echo", f"the server at {self.url} does not return prompt log-probabilities (echo); "
                                   f"scoring given text is unavailable, so score() gives NaN.")
            return [math.nan] * len(prefixes)
        self.usage.add(0, _prompt_tokens(data))
        n = len(prefixes)
        return [totals[i] - totals[n + i] for i in range(n)]


class _Refused(PolicyError):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class _NoEcho(Exception):
    pass


def _message(r) -> str:
    try:
        err = r.json().get("error")
        msg = err.get("message") if isinstance(err, dict) else err
        return str(msg)[:300] if msg else r.reason_phrase
    except (ValueError, AttributeError):
        return r.reason_phrase or "no message"


def _choices(data: dict, url: str) -> list[dict]:
    choices = data.get("choices")
    if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
        raise PolicyError(f"the server at {url} sent a response without a list of choices.")
    return choices


def _prompt_tokens(data: dict) -> int:
    usage = data.get("usage") or {}
    value = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    return int(value) if isinstance(value, (int, float)) else 0


def _total(choice: dict) -> float | None:
    """The sum of an echoed text's token log-probabilities (the first token's None skipped)."""
    lp = choice.get("logprobs")
    values = lp.get("token_logprobs") if isinstance(lp, dict) else None
    if not isinstance(values, list) or not values:
        raise _NoEcho()
    return float(sum(v for v in values if isinstance(v, (int, float))))


def _restore_stop(text: str, stop_reason, generated: str, stop) -> str:
    """The step text with the stop string a server cut off put back; "" when the model ended
    the text itself (no stop string matched)."""
    if isinstance(stop_reason, str) and stop_reason in stop:
        return text + stop_reason
    if generated.startswith(text):
        hits = [generated.index(s, len(text)) + len(s) for s in stop if s in generated[len(text):]]
        if hits:
            return generated[:min(hits)]
    return ""
