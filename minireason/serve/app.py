"""The HTTP side: OpenAI's chat-completions and completions protocol on FastAPI, over the scheduler.

    POST /v1/chat/completions   messages -> chat template -> prompt ids ─┐
    POST /v1/completions        prompt text (or ids) -> prompt ids ──────┴─▶ Scheduler.submit
    GET  /v1/models             the one model served
    GET  /stats                 the scheduler's counters (running rows, waiting requests, ...)
    GET  /                      the chat page (static/, shipped in the package)

A request's events come from the engine thread through ``loop.call_soon_threadsafe`` into an
asyncio queue; a streamed answer is sent as server-sent events in OpenAI's chunk format, ending with
``data: [DONE]``. A client that goes away cancels its request: its rows leave the batch at the next
step. Every error is OpenAI's JSON shape ``{"error": {"message", "type", "param", "code"}}``: 400 for
a malformed request, 401 without the API key, 404 for an unknown model or route, 413 for a body or a
prompt too long, 422 for a limit of this server (max_tokens, n), 503 when the queue is full.

fastapi and uvicorn are the optional extra ``serve``, imported in :func:`server_packages` only.
"""

import asyncio
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from importlib import resources

from minireason.errors import ConfigError, InputError
from minireason.generation.generate import eos_token_ids
from minireason.generation.sampling import SamplingSettings
from minireason.io.chat_template import render_chat
from minireason.seeds import check_seed
from minireason.serve.reasoning import CONTENT, ReasoningSplitter
from minireason.serve.scheduler import CompletionRequest, QueueFull, RowEvent, Scheduler

DISCONNECT_CHECK_SECONDS = 0.2  # how often a waiting handler asks whether its client is still there
MAX_STOP_STRINGS = 16


def server_packages():
    """(fastapi, uvicorn), or a one-line ConfigError naming the extra that provides them."""
    try:
        import fastapi
        import uvicorn
    except ImportError as error:
        raise ConfigError(f"serving needs fastapi and uvicorn ({error.name} is missing): "
                          "pip install 'minireason[serve]'") from None
    return fastapi, uvicorn


class APIError(Exception):
    """An error answered in OpenAI's shape with an HTTP status."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def body(self) -> dict:
        """The JSON body of the answer: ``{"error": {message, type, param, code}}``."""
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


@dataclass
class ServerSettings:
    """What the server answers with when a request leaves a field out, and its limits."""

    model_name: str
    default_sampling: dict = field(default_factory=dict)  # temperature, top_k, top_p, min_p
    default_max_tokens: int = 256
    api_key: str | None = None
    max_body_bytes: int = 1 << 20


# ----------------------------------------------------------------------------- reading a request


def _field(body: dict, name: str, kinds, default=None, check=None, what: str = ""):
    """body[name] if it has one of ``kinds`` (bool is never a number) and passes ``check``, else APIError 400."""
    value = body.get(name)
    if value is None:
        return default
    is_bool = isinstance(value, bool)
    if (is_bool and bool not in kinds) or (not is_bool and not isinstance(value, kinds)) or (
            check is not None and not check(value)):
        expected = what or " or ".join(kind.__name__ for kind in kinds)
        raise APIError(400, f"'{name}' must be {expected}, got {json.dumps(value)[:80]}", param=name)
    return value


def _stop_strings(body: dict) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    if isinstance(stop, str):
        stop = [stop]
    if (not isinstance(stop, list) or len(stop) > MAX_STOP_STRINGS
            or not all(isinstance(text, str) and text for text in stop)):
        raise APIError(400, f"'stop' must be a non-empty string or a list of at most {MAX_STOP_STRINGS} "
                            "non-empty strings", param="stop")
    return tuple(stop)


def _sampling(body: dict, defaults: dict) -> SamplingSettings:
    number = (int, float)
    temperature = _field(body, "temperature", number, defaults.get("temperature", 0.0))
    top_p = _field(body, "top_p", number, defaults.get("top_p", 1.0))
    top_k = _field(body, "top_k", (int,), defaults.get("top_k", 0))
    min_p = _field(body, "min_p", number, defaults.get("min_p", 0.0))
    if top_k == -1:  # vLLM's and llama.cpp's spelling of "no top-k"
        top_k = 0
    settings = {"temperature": temperature, "top_k": top_k, "top_p": top_p, "min_p": min_p}
    for name, value in settings.items():  # one at a time, so the error names its field
        try:
            SamplingSettings(**{name: value})
        except InputError as error:
            raise APIError(400, str(error), param=name) from None
    return SamplingSettings(float(temperature), int(top_k), float(top_p), float(min_p))


def _chat_prompt(body: dict) -> tuple[str, bool]:
    """The rendered chat prompt and whether thinking is on."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise APIError(400, "'messages' must be a non-empty list of {role, content} objects", param="messages")
    flattened = []
    for index, message in enumerate(messages):
        if isinstance(message, dict) and isinstance(message.get("content"), list):  # content parts
            parts = message["content"]
            if not all(isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
                       for part in parts):
                raise APIError(400, f"messages[{index}].content: only text parts are supported",
                               param="messages")
            message = {**message, "content": "".join(part["text"] for part in parts)}
        flattened.append(message)
    template_options = _field(body, "chat_template_kwargs", (dict,), {})
    thinking = template_options.get("enable_thinking", True)
    if not isinstance(thinking, bool):
        raise APIError(400, "'chat_template_kwargs.enable_thinking' must be true or false",
                       param="chat_template_kwargs")
    try:
        return render_chat(flattened, add_generation_prompt=True, enable_thinking=thinking), thinking
    except InputError as error:
        raise APIError(400, str(error).replace("chat template: ", ""), param="messages") from None


class ServerState:
    """The model, its tokenizer, the scheduler and the settings the routes share."""

    def __init__(self, scheduler: Scheduler, settings: ServerSettings):
        self.scheduler, self.settings = scheduler, settings
        self.tokenizer = scheduler.tokenizer
        self.stop_token_ids = frozenset(eos_token_ids(scheduler.tokenizer, scheduler.model))

    def completion_request(self, body: dict, chat: bool) -> tuple[CompletionRequest, bool]:
        """The checked request (APIError otherwise) and whether thinking is on (chat only)."""
        model = _field(body, "model", (str,), None)
        if model is None:
            raise APIError(400, "'model' is required", param="model")
        if model != self.settings.model_name:
            raise APIError(404, f"the model '{model}' does not exist; this server has '{self.settings.model_name}'",
                           param="model", code="model_not_found")
        for unsupported in ("tools", "functions", "logprobs", "top_logprobs", "echo", "suffix"):
            if body.get(unsupported):
                raise APIError(400, f"'{unsupported}' is not supported by this server", param=unsupported)
        thinking = False
        if chat:
            prompt, thinking = _chat_prompt(body)
            prompt_ids = self.tokenizer.encode(prompt)
        else:
            prompt = body.get("prompt")
            if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
                prompt = prompt[0]
            if isinstance(prompt, str) and prompt:
                prompt_ids = self.tokenizer.encode(prompt)
            elif (isinstance(prompt, list) and prompt
                  and all(isinstance(i, int) and not isinstance(i, bool) for i in prompt)):
                prompt_ids = prompt
                vocab = self.scheduler.model.config.vocab_size
                if not all(0 <= i < vocab for i in prompt_ids):
                    raise APIError(400, f"'prompt' token ids must lie in [0, {vocab})", param="prompt")
            else:
                raise APIError(400, "'prompt' must be a non-empty string or a non-empty list of token ids",
                               param="prompt")
        context = self.scheduler.max_context
        if len(prompt_ids) >= context:
            raise APIError(413, f"the prompt has {len(prompt_ids)} tokens; this server's context is {context} "
                                "tokens (prompt + completion)", param="messages" if chat else "prompt",
                           code="context_length_exceeded")
        room = context - len(prompt_ids)
        positive = lambda value: value >= 1  # noqa: E731
        max_tokens = _field(body, "max_completion_tokens", (int,), None, positive, "an integer >= 1")
        max_tokens = _field(body, "max_tokens", (int,), max_tokens, positive, "an integer >= 1")
        if max_tokens is None:
            max_tokens = min(self.settings.default_max_tokens, room)
        elif max_tokens > room:
            raise APIError(422, f"max_tokens is {max_tokens}, but the prompt's {len(prompt_ids)} tokens leave "
                                f"room for {room} in this server's context of {context}", param="max_tokens",
                           code="context_length_exceeded")
        n = _field(body, "n", (int,), 1, positive, "an integer >= 1")
        if n > self.scheduler.max_rows:
            raise APIError(422, f"n is {n}; this server decodes at most {self.scheduler.max_rows} rows at once",
                           param="n")
        seed = _field(body, "seed", (int,), None)
        try:
            seed = check_seed(seed)
        except InputError as error:
            raise APIError(400, str(error), param="seed") from None
        ignore_eos = _field(body, "ignore_eos", (bool,), False)  # vLLM's extension: exactly max_tokens tokens
        request = CompletionRequest(tuple(prompt_ids), max_tokens, _sampling(body, self.settings.default_sampling),
                                    seed, _stop_strings(body), frozenset() if ignore_eos else self.stop_token_ids, n)
        return request, thinking


# ----------------------------------------------------------------------------- the app


def create_app(scheduler: Scheduler, settings: ServerSettings):
    """The FastAPI app serving ``scheduler``'s model; the engine thread runs while the app does."""
    fastapi, _ = server_packages()
    from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
    from fastapi.staticfiles import StaticFiles
    from starlette.exceptions import HTTPException

    state = ServerState(scheduler, settings)
    static = resources.files("minireason.serve") / "static"

    async def lifespan(app):
        scheduler.start()
        try:
            yield
        finally:
            scheduler.stop()

    app = fastapi.FastAPI(title="minireason", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    def error_response(error: APIError):
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(APIError)
    async def api_error(request, error: APIError):
        return error_response(error)

    @app.exception_handler(HTTPException)
    async def http_error(request, error):
        code = "not_found" if error.status_code == 404 else None
        return error_response(APIError(error.status_code, f"{request.method} {request.url.path}: {error.detail}",
                                       code=code))

    def authorize(request) -> None:
        # a route-level check, not an HTTP middleware: Starlette's BaseHTTPMiddleware makes a streaming
        # route's client look disconnected once the response has started
        if settings.api_key is None:
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {settings.api_key}".encode()):
            raise APIError(401, "a valid API key is required: 'Authorization: Bearer KEY'", code="invalid_api_key")

    @app.get("/")
    async def chat_page():
        return FileResponse(str(static / "index.html"))

    @app.get("/v1/models")
    async def models(request: fastapi.Request):
        authorize(request)
        return {"object": "list", "data": [{"id": settings.model_name, "object": "model", "created": 0,
                                            "owned_by": "minireason", "max_model_len": scheduler.max_context}]}

    @app.get("/stats")
    async def stats(request: fastapi.Request):
        authorize(request)
        return scheduler.stats()

    async def read_body(request) -> dict:
        raw = await request.body()
        if len(raw) > settings.max_body_bytes:
            raise APIError(413, f"the request body has {len(raw)} bytes; at most {settings.max_body_bytes}")
        try:
            body = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as error:
            raise APIError(400, f"the request body is not valid UTF-8 (byte {error.start})") from None
        except json.JSONDecodeError as error:
            raise APIError(400, f"the request body is not valid JSON: {error.msg} at character {error.pos}") from None
        if not isinstance(body, dict):
            raise APIError(400, f"the request body must be a JSON object, got {type(body).__name__}")
        return body

    async def answer(request, chat: bool):
        authorize(request)
        body = await read_body(request)
        completion, thinking = state.completion_request(body, chat)
        stream = _field(body, "stream", (bool,), False)
        options = _field(body, "stream_options", (dict,), {})
        loop, events = asyncio.get_running_loop(), asyncio.Queue()

        def on_event(event: RowEvent) -> None:  # called on the engine thread
            loop.call_soon_threadsafe(events.put_nowait, event)

        try:
            ticket = scheduler.submit(completion, on_event)
        except QueueFull as error:
            raise APIError(503, str(error), code="queue_full", kind="server_error") from None
        except InputError as error:
            raise APIError(422, str(error)) from None
        reply = Reply(chat, settings.model_name, completion, thinking)
        if stream:
            return StreamingResponse(_sse(reply, _events(request, ticket, events, completion.n),
                                          bool(options.get("include_usage"))),
                                     media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        async for event in _events(request, ticket, events, completion.n):
            reply.add(event)
        return reply.whole()

    @app.post("/v1/chat/completions")
    async def chat_completions(request: fastapi.Request):
        return await answer(request, chat=True)

    @app.post("/v1/completions")
    async def completions(request: fastapi.Request):
        return await answer(request, chat=False)

    return app


async def _events(request, ticket, events: asyncio.Queue, n: int):
    """The request's events until all its n choices have finished; a client that goes away cancels
    the request (checked between events, at least every DISCONNECT_CHECK_SECONDS)."""
    remaining = n
    last_check = time.monotonic()
    try:
        while remaining:
            try:
                event = await asyncio.wait_for(events.get(), DISCONNECT_CHECK_SECONDS)
            except asyncio.TimeoutError:
                event = None
            if event is None or time.monotonic() - last_check > DISCONNECT_CHECK_SECONDS:
                last_check = time.monotonic()
                if await request.is_disconnected():
                    return
            if event is None:
                continue
            if event.finish_reason is not None:
                remaining -= 1
            yield event
    finally:
        if remaining:
            ticket.cancel()


class Reply:
    """One request's answer as OpenAI shapes it: whole, or as chunks while the events come."""

    def __init__(self, chat: bool, model_name: str, request: CompletionRequest, thinking: bool):
        self.chat, self.model_name, self.request = chat, model_name, request
        self.id = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
        self.created = int(time.time())
        self.splitters = [ReasoningSplitter(thinking) for _ in range(request.n)] if chat else None
        self.parts = [{"content": [], "reasoning_content": []} for _ in range(request.n)]
        self.finish_reasons: list[str | None] = [None] * request.n
        self.completion_tokens = 0

    def _pieces(self, event: RowEvent) -> list[tuple[str, str]]:
        if not self.chat:
            return [(CONTENT, event.text)] if event.text else []
        splitter = self.splitters[event.choice]
        pieces = splitter.feed(event.text)
        if event.finish_reason is not None:
            pieces += splitter.finish()
        return pieces

    def add(self, event: RowEvent) -> list[tuple[str, str]]:
        pieces = self._pieces(event)
        for name, text in pieces:
            self.parts[event.choice][name].append(text)
        if event.finish_reason is not None:
            self.finish_reasons[event.choice] = event.finish_reason
            self.completion_tokens += event.completion_tokens
        return pieces

    def usage(self) -> dict:
        prompt_tokens = len(self.request.prompt_ids)
        return {"prompt_tokens": prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": prompt_tokens + self.completion_tokens}

    def _head(self, chunk: bool) -> dict:
        kind = ("chat.completion" if self.chat else "text_completion") + (".chunk" if chunk and self.chat else "")
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model_name}

    def whole(self) -> dict:
        choices = []
        for index, parts in enumerate(self.parts):
            text = "".join(parts["content"])
            if self.chat:
                reasoning = "".join(parts["reasoning_content"]) or None
                choice = {"index": index, "message": {"role": "assistant", "content": text,
                                                      "reasoning_content": reasoning}}
            else:
                choice = {"index": index, "text": text}
            choices.append({**choice, "logprobs": None, "finish_reason": self.finish_reasons[index]})
        return {**self._head(False), "choices": choices, "usage": self.usage()}

    def chunk(self, index: int, pieces=(), finish_reason: str | None = None, role: bool = False) -> dict:
        if self.chat:
            delta = {"role": "assistant", "content": ""} if role else {}
            for name, text in pieces:
                delta[name] = delta.get(name, "") + text
            choice = {"index": index, "delta": delta}
        else:
            choice = {"index": index, "text": "".join(text for _, text in pieces)}
        return {**self._head(True), "choices": [{**choice, "logprobs": None, "finish_reason": finish_reason}]}


async def _sse(reply: Reply, events, include_usage: bool):
    """Server-sent events: a first chunk per choice (chat: the role), the text as it comes, a last chunk
    per choice with its finish_reason, the usage chunk if asked for, then ``[DONE]``."""

    def line(payload) -> str:
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

    if reply.chat:
        for index in range(reply.request.n):
            yield line(reply.chunk(index, role=True))
    try:
        async for event in events:
            pieces = reply.add(event)
            if pieces:
                yield line(reply.chunk(event.choice, pieces))
            if event.finish_reason is not None:
                yield line(reply.chunk(event.choice, finish_reason=event.finish_reason))
    finally:
        await events.aclose()  # a client gone mid-stream: the request is cancelled now, not at collection
    if include_usage:
        yield line({**reply._head(True), "choices": [], "usage": reply.usage()})
    yield "data: [DONE]\n\n"


def run_server(app, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``app`` with uvicorn until Ctrl-C."""
    _, uvicorn = server_packages()
    uvicorn.run(app, host=host, port=port, log_level="warning")


class BackgroundServer:
    """``app`` served by uvicorn in a thread of this process, on a free port of 127.0.0.1 unless
    told otherwise (tests and benchmarks); ``url`` once started; ``stop()`` shuts it down."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, start_timeout: float = 30.0):
        _, uvicorn = server_packages()
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="minireason-http", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + start_timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"the server did not start on {host}:{port}")
            time.sleep(0.02)
        bound_host, bound_port = self.server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{bound_host}:{bound_port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
