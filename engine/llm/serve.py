"""`move37 serve DIR`: an OpenAI-compatible completions server over a Hugging Face model
directory (the built-in model included), so that the `openai:` policy is tested over real HTTP
and any OpenAI client can use move37's models.

`transformers serve` (transformers 5) has a `/v1/completions` route, but lists `logprobs`, `echo`
and `n` as unsupported, and a tree search needs all three; hence this server. It follows vLLM's
conventions where OpenAI's are silent: log-probabilities are the model's own (temperature 1,
before any sampling transform), a stop string is cut from the text unless
`include_stop_str_in_output` is true, and `stop_reason` names the stop string that ended a choice
(null when the model ended the text).

Requests that arrive while the model is busy are batched: each pass of the worker takes every
waiting request, groups those with the same sampling settings, and runs each group as one
batch. Bad requests get OpenAI-shaped error objects (400 with a message), never a traceback.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

MAX_N = 64  # choices per prompt
MAX_TOP = 20  # alternatives per token (vLLM's default cap; OpenAI's is 5)
MAX_ROWS = 256  # sampled rows per model batch


class RequestError(ValueError):
    """A request the server refuses: 400 with this message and the offending parameter."""

    def __init__(self, message: str, param: str | None = None, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.param, self.kind = param, kind


@dataclass(frozen=True)
class Request:
    prompts: tuple[str, ...]
    n: int
    max_tokens: int
    temperature: float
    stop: tuple[str, ...]
    logprobs: int | None  # None: no log-probabilities; N: the chosen token's and N alternatives
    echo: bool
    seed: int | None
    include_stop: bool

    def group(self) -> tuple:
        """Requests with equal groups run as one batch."""
        return self.n, self.max_tokens, self.temperature, self.stop, self.logprobs or 0


def _number(body: dict, key: str, default, kind, low=None, high=None):
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
        raise RequestError(f"'{key}' must be {'an integer' if kind is int else 'a number'}.", key)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        raise RequestError(f"'{key}' must be {bounds}; got {value}.", key)
    return kind(value)


def parse_request(body, served: str) -> Request:
    """A completions request body, checked: every refusal is a RequestError with one sentence."""
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object.")
    model = body.get("model")
    if model is not None and model != served:
        raise RequestError(f"The model '{model}' does not exist; this server serves '{served}'.", "model",
                           "model_not_found")
    prompt = body.get("prompt")
    if prompt is None:
        raise RequestError("'prompt' is required.", "prompt")
    prompts = (prompt,) if isinstance(prompt, str) else prompt
    if not isinstance(prompts, (list, tuple)) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise RequestError("'prompt' must be a string or a non-empty list of strings.", "prompt")
    stop = body.get("stop")
    stop = () if stop is None else (stop,) if isinstance(stop, str) else stop
    if not isinstance(stop, (list, tuple)) or len(stop) > 4 or not all(isinstance(s, str) and s for s in stop):
        raise RequestError("'stop' must be a string or a list of up to 4 non-empty strings.", "stop")
    echo = body.get("echo", False)
    include = body.get("include_stop_str_in_output", False)
    if not isinstance(echo, bool) or not isinstance(include, bool):
        raise RequestError("'echo' and 'include_stop_str_in_output' must be true or false.", "echo")
    if body.get("stream"):
        raise RequestError("Streaming is not supported by this server; send 'stream': false.", "stream")
    logprobs = body.get("logprobs")
    return Request(
        prompts=tuple(prompts),
        n=_number(body, "n", 1, int, 1, MAX_N),
        max_tokens=_number(body, "max_tokens", 16, int, 0, 4096),
        temperature=_number(body, "temperature", 1.0, float, 0.0, 2.0),
        stop=tuple(stop),
        logprobs=None if logprobs is None else _number(body, "logprobs", 0, int, 0, MAX_TOP),
        echo=echo,
        seed=None if body.get("seed") is None else _number(body, "seed", 0, int, 0, 2**63 - 1),
        include_stop=include,
    )


class Engine:
    """The model behind the server: one worker thread, batching whatever requests wait."""

    def __init__(self, policy):
        self.policy = policy
        self.tokenizer = policy.tokenizer
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="move37-model")
        self.queue: asyncio.Queue | None = None
        self.worker: asyncio.Task | None = None

    async def complete(self, request: Request) -> tuple[list[dict], dict]:
        if self.queue is None:
            self.queue = asyncio.Queue()
            self.worker = asyncio.get_running_loop().create_task(self._loop())
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((request, future))
        return await future

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            waiting = [await self.queue.get()]
            while not self.queue.empty():
                waiting.append(self.queue.get_nowait())
            groups = defaultdict(list)
            for request, future in waiting:
                groups[request.group()].append((request, future))
            for items in groups.values():
                try:
                    answers = await loop.run_in_executor(self.pool, self._run, [r for r, _ in items])
                except Exception as e:  # a model failure answers its requests; the server lives on
                    answers = [e] * len(items)
                for (_, future), answer in zip(items, answers):
                    if not future.done():
                        future.set_exception(answer) if isinstance(answer, Exception) else future.set_result(answer)

    # ---- in the model thread ------------------------------------------------------------------
    def _run(self, requests: list[Request]) -> list[tuple[list[dict], dict]]:
        first = requests[0]
        rows = [(q, i, p) for q, req in enumerate(requests) for i, p in enumerate(req.prompts)]
        seeds = [req.seed if req.seed is not None else int.from_bytes(os.urandom(4), "little") for req in requests]
        k = 1 if first.temperature == 0 else first.n
        generated = [None] * len(rows)
        if first.max_tokens > 0:
            step = max(1, MAX_ROWS // k)
            for start in range(0, len(rows), step):
                chunk = rows[start:start + step]
                out = self.policy.propose([p for _, _, p in chunk], k, first.stop, [seeds[q] for q, _, _ in chunk],
                                          first.temperature, first.max_tokens, top=first.logprobs or 0)
                for j, cands in enumerate(out):
                    generated[start + j] = cands
        echoes = {}
        wanted = [p for q, _, p in rows if requests[q].echo]
        if wanted:
            echoes = dict(zip(wanted, self.policy.echo(wanted, top=first.logprobs or 0)))
        by_request = defaultdict(list)  # each request's rows, in order
        for r, (q, _, _) in enumerate(rows):
            by_request[q].append(r)
        answers = []
        for q, req in enumerate(requests):
            choices, prompt_tokens, completion_tokens = [], 0, 0
            for r in by_request[q]:
                _, i, prompt = rows[r]
                cands = generated[r]
                prompt_tokens += cands.prompt_tokens if cands else len(self.policy.encode(prompt))
                proposals = (cands.proposals * req.n)[:req.n] if cands else [None] * req.n  # greedy: n copies
                for j, prop in enumerate(proposals):
                    choice = self._choice(req, prompt, prop, echoes.get(prompt))
                    choice["index"] = i * req.n + j
                    completion_tokens += prop.tokens if prop else 0
                    choices.append(choice)
            answers.append((choices, {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                                      "total_tokens": prompt_tokens + completion_tokens}))
        return answers

    def _choice(self, req: Request, prompt: str, prop, echo) -> dict:
        eos = self.tokenizer.eos_token_id
        pieces, values, tops = [], [], []
        if echo is not None:
            for piece, value, alts in echo:
                pieces.append(piece), values.append(value), tops.append(alts or None)
        text, finish, stop_reason = "", "length", None
        if prop is not None:
            ids = list(prop.ids)
            ended = bool(ids) and ids[-1] == eos
            text = self.tokenizer.decode(ids[:-1] if ended else ids)  # as the in-process backend reads it
            hits = [(text.index(s) + len(s), s) for s in req.stop if s in text]
            if hits:
                end, stop_reason = min(hits)
                text, finish = text[:end] if req.include_stop else text[:end - len(stop_reason)], "stop"
            elif ended:
                finish = "stop"
            for n, tok in enumerate(ids):
                pieces.append("" if tok == eos else self.policy._piece(tok))
                values.append(prop.token_logprobs[n])
                tops.append(prop.top_logprobs[n] if prop.top_logprobs else None)
        logprobs = None
        if req.logprobs is not None:
            offsets, at = [], 0
            for piece in pieces:
                offsets.append(at)
                at += len(piece)
            logprobs = {"tokens": pieces, "token_logprobs": values, "text_offset": offsets,
                        "top_logprobs": tops if req.logprobs > 0 else None}
        return {"text": (prompt if req.echo else "") + text, "logprobs": logprobs, "finish_reason": finish,
                "stop_reason": stop_reason}


def make_app(policy, served: str):
    """The ASGI app (Starlette): /v1/models and /v1/completions over `policy` (a LocalPolicy)."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    engine = Engine(policy)
    created = int(time.time())
    limit = _max_len(policy)

    def error(status: int, message: str, kind: str = "invalid_request_error", param=None, code=None):
        return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}}, status)

    async def http_error(_, exc: HTTPException):
        return error(exc.status_code, str(exc.detail), "not_found_error" if exc.status_code == 404 else
                     "invalid_request_error")

    async def failure(_, exc):
        return error(500, f"The server failed on this request: {type(exc).__name__}.", "server_error")

    async def models(_):
        return JSONResponse({"object": "list", "data": [{"id": served, "object": "model", "created": created,
                                                         "owned_by": "move37", "max_model_len": limit}]})

    async def completions(http):
        try:
            body = await http.json()
        except ValueError:
            return error(400, "The request body is not valid JSON.")
        try:
            request = parse_request(body, served)
        except RequestError as e:
            return error(400, str(e), e.kind, e.param, "model_not_found" if e.kind == "model_not_found" else None)
        longest = max(len(policy.encode(p)) for p in request.prompts) + request.max_tokens
        if limit and longest > limit:
            return error(400, f"This model's maximum context length is {limit} tokens; the request needs {longest} "
                              f"(prompt and max_tokens).", param="max_tokens")
        choices, usage = await engine.complete(request)
        return JSONResponse({"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion",
                             "created": int(time.time()), "model": served, "choices": choices, "usage": usage})

    routes = [Route("/v1/models", models, methods=["GET"]), Route("/v1/completions", completions, methods=["POST"])]
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: failure})


def _max_len(policy) -> int | None:
    return getattr(policy.model.config, "max_position_embeddings", None)


def serve(directory: str, host: str = "127.0.0.1", port: int = 8000, name: str | None = None,
          device: str = "auto", ready=None) -> None:
    """Run the server until interrupted. `ready(port)` is called once it listens."""
    import socket

    import uvicorn

    from engine.llm.local import LocalPolicy

    policy = LocalPolicy(directory, device=device)
    path = os.path.normpath(os.path.abspath(directory))
    served = name or os.path.basename(os.path.dirname(path) if os.path.basename(path) == "model" else path)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))  # bound here, so that port 0 can be reported before serving starts
    config = uvicorn.Config(make_app(policy, served), log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    if ready:
        ready(sock.getsockname()[1], served)
    server.run(sockets=[sock])
