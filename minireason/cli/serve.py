"""``minireason serve``: an OpenAI-compatible HTTP server with continuous batching and a chat page.

    minireason serve --model builtin:base                       # http://127.0.0.1:8000/
    minireason serve --model ./Qwen3-0.6B --port 8080 --api-key SECRET --max-rows 16

Routes: POST /v1/chat/completions and /v1/completions (OpenAI's protocol, streamed or not),
GET /v1/models, GET /stats, and the chat page at /. It binds to 127.0.0.1 unless --host says
otherwise; with --api-key every /v1 route needs ``Authorization: Bearer KEY``. Needs the extra
``serve`` (fastapi, uvicorn). Scheduling and limits: docs/serving.md.
"""

import sys

from minireason.cli import arguments
from minireason.cli.generate import load_model, sampling_settings
from minireason.serve.app import ServerSettings, create_app, run_server, server_packages
from minireason.serve.scheduler import Scheduler


def add_arguments(parser) -> None:
    """Adds the options of ``minireason serve`` to its parser."""
    parser.add_argument("--model", required=True, help="checkpoint directory or builtin:NAME")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on; 0.0.0.0 exposes the server to the network")
    parser.add_argument("--port", type=arguments.non_negative_int, default=8000, help="TCP port (0 = any free one)")
    parser.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY' on /v1 routes")
    parser.add_argument("--max-rows", type=arguments.positive_int, default=32,
                        help="sequences decoded together in one batch (a request with n choices takes n)")
    parser.add_argument("--max-waiting", type=arguments.non_negative_int, default=64,
                        help="requests queued behind the batch; one more is answered 503")
    parser.add_argument("--max-context", type=arguments.positive_int, default=None,
                        help="longest prompt + completion per sequence (default: the model's window)")
    parser.add_argument("--max-new-tokens", type=arguments.positive_int, default=256,
                        help="completion length of a request that gives no max_tokens")
    parser.add_argument("--temperature", type=float, default=None,
                        help="default of requests that give none (default: the checkpoint's, else greedy)")
    parser.add_argument("--top-k", type=arguments.non_negative_int, default=None, help="default top_k (0 = off)")
    parser.add_argument("--top-p", type=float, default=None, help="default top_p (1 = off)")
    parser.add_argument("--min-p", type=float, default=None, help="default min_p (0 = off)")
    parser.add_argument("--seed", type=arguments.seed, default=0, help="randomness of requests that give no seed")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"],
                        help="precision of the weights and the computation")


def run(args) -> int:
    """Runs ``minireason serve``: loads the model, starts the scheduler and the HTTP server until Ctrl-C; returns
    the exit status."""
    server_packages()  # a missing extra fails before the model loads
    model, tokenizer = load_model(args)
    scheduler = Scheduler(model, tokenizer, max_rows=args.max_rows, max_waiting=args.max_waiting,
                          max_context=args.max_context, seed=args.seed)
    settings = ServerSettings(args.model, default_sampling=sampling_settings(args, model),
                              default_max_tokens=args.max_new_tokens, api_key=args.api_key)
    app = create_app(scheduler, settings)
    print(f"serving {args.model} on http://{args.host}:{args.port}/ (OpenAI API under /v1)", file=sys.stderr)
    run_server(app, args.host, args.port)
    return 0
