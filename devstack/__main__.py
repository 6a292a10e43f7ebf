"""Run the local stack: `python -m devstack demo` starts it and runs the main job."""

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from devstack import main_job
from devstack.processes import REPO_ROOT, StackError
from devstack.stack import RunningStack, StackConfig, start_stack

log = logging.getLogger("devstack")

SAMPLE_QUESTION = "Why was the customer charged twice and was the refund issued?"


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument(
        "command",
        choices=["demo", "up"],
        help="demo: start and run the main job; up: only start",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=REPO_ROOT / "var",
        help="folder for Postgres data and logs",
    )
    parser.add_argument(
        "--gateway-port", type=int, default=8080, help="port of the REST gateway"
    )
    parser.add_argument(
        "--question", default=SAMPLE_QUESTION, help="question the demo asks"
    )
    parser.add_argument(
        "--replicas",
        type=int,
        choices=range(1, 5),
        default=1,
        help="processes per service, on ports 10 apart (default 1)",
    )
    parser.add_argument(
        "--password",
        default="demo-owner-password",
        help="the owner's password (user 'owner')",
    )
    return parser.parse_args()


def _run_demo(base_url: str, config: StackConfig, question: str) -> None:
    api = main_job.login(base_url, config.owner_username, config.owner_password)
    project_id = main_job.select_project(api, "Demo")
    log.info("project selected: %s", project_id)
    for connector in ("chatwoot", "linear", "attio"):
        run = main_job.sync_and_wait(api, connector)
        log.info("%s sync finished: %s", connector, run["counts"])
    embedded = api.post("/jobs/embeddings/run")
    log.info(
        "embeddings: %s embedded here, %s failed, %s left to the scheduled job",
        embedded["embedded"],
        embedded["failed"],
        embedded["remaining_pending"],
    )
    counts = main_job.wait_for_embeddings(api)
    log.info("chunks by status: %s", counts)
    result = api.post("/lightrag/query", {"question": question})
    sys.stdout.write(f"\nQuestion: {question}\n\n{main_job.format_answer(result)}\n\n")


MAX_RESTARTS = 3


def _restart_exited(stack: RunningStack, restarts: dict[str, int]) -> None:
    """Start again each process that exited, as a supervisor would, up to a limit."""
    for process in stack.group.exited():
        code = process.popen.returncode
        restarts[process.name] = restarts.get(process.name, 0) + 1
        if restarts[process.name] > MAX_RESTARTS:
            raise StackError(
                f"{process.name} exited with code {code} after {MAX_RESTARTS}"
                f" restarts; log tail:\n{stack.group.log_tail(process)}"
            )
        log.warning(
            "%s exited with code %s; starting it again (log: %s)",
            process.name,
            code,
            process.log_path,
        )
        stack.group.restart(process.name)


def main() -> int:
    args = _parse()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    config = StackConfig(
        data_dir=args.data_dir,
        log_dir=args.data_dir / "logs",
        gateway_port=args.gateway_port,
        owner_password=args.password,
        replicas=args.replicas,
    )
    try:
        stack = start_stack(config)
    except StackError as exc:
        log.error("stack failed to start: %s", exc)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        log.info("stack up: gateway %s, logs in %s", stack.gateway_url, config.log_dir)
        if args.command == "demo":
            _run_demo(stack.gateway_url, config, args.question)
        log.info(
            "stack keeps running for you at %s (user owner); press Ctrl-C to stop",
            stack.gateway_url,
        )
        restarts: dict[str, int] = {}
        while not stop.wait(1.0):
            _restart_exited(stack, restarts)
    except KeyboardInterrupt:
        pass
    except (StackError, main_job.MainJobError) as exc:
        log.error("%s", exc)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        log.info("stopping every process")
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
