"""`python -m sandboxes.tasks run TASK_DIR --agent oracle|noop` prints one JSON object (reward, passed, total,
status, ...). `validate TASK_DIR...` checks, for each task, that its packages resolve and its image builds
offline, and that oracle scores 1 and noop scores 0; a task that fails says why, the others still run."""
from __future__ import annotations

import argparse
import json
import sys
import time

from sandboxes.tasks.spec import TaskError, TaskSpec, load_task
from sandboxes.tasks.task_image import describe, network_urls
from sandboxes.terminal_env import TerminalEnv


def run_episode(env: TerminalEnv, task: TaskSpec, agent: str) -> dict:
    """Scripted agents: `oracle` runs the reference solution, `noop` does nothing."""
    start = time.monotonic()
    env.reset(task)
    steps = []
    if agent == "oracle":
        if not task.solution:
            raise TaskError(f"{task.path}: no solution.sh / solution.yaml for --agent oracle")
        for step in task.solution:
            obs = env.type_keys(step) if step.keystrokes else env.step(step.command, timeout=step.max_timeout_s)
            steps.append({"exit_code": obs.exit_code, "timed_out": obs.timed_out})
    report = env.finish()
    return {"task": task.name, "format": task.format, "agent": agent, **report.as_dict(), "turns": len(steps),
            "steps": steps, "seconds": round(time.monotonic() - start, 2)}


def _image_map(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        pattern, sep, name = pair.partition("=")
        if not sep:
            raise SystemExit(f"--image-map {pair!r}: expected PATTERN=IMAGE_NAME, e.g. 'myorg/base*=terminal'")
        out[pattern] = name
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandboxes.tasks")
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("run", "validate"):
        p = sub.add_parser(name)
        p.add_argument("tasks", nargs="+" if name == "validate" else 1, metavar="TASK_DIR")
        p.add_argument("--image-map", action="append", default=[], metavar="PATTERN=IMAGE",
                       help="map Dockerfile FROM images to local sandbox images (fnmatch patterns)")
        p.add_argument("--runtime", choices=["runc", "runsc"], default=None)
        if name == "run":
            p.add_argument("--agent", choices=["oracle", "noop"], default="oracle")
    args = parser.parse_args(argv)
    env = TerminalEnv(image_map=_image_map(args.image_map), runtime=args.runtime)
    try:
        if args.cmd == "run":
            print(json.dumps(run_episode(env, load_task(args.tasks[0]), args.agent)))
            return 0
        bad = 0
        for path in args.tasks:
            try:
                task = load_task(path)
                packages = describe(task)
                oracle, noop = run_episode(env, task, "oracle"), run_episode(env, task, "noop")
            except TaskError as exc:
                bad += 1
                row = {"task": str(path), "ok": False, "error": str(exc)}
                try:
                    row["network_urls"] = network_urls(load_task(path))
                except TaskError:
                    pass
                print(json.dumps(row), flush=True)
                continue
            ok = oracle["reward"] == 1.0 and noop["reward"] == 0.0
            bad += not ok
            print(json.dumps({"task": task.name, "ok": ok, "oracle": oracle["reward"], "noop": noop["reward"],
                              "oracle_status": oracle["status"], "packages": packages,
                              "seconds": round(oracle["seconds"] + noop["seconds"], 1)}), flush=True)
        return 1 if bad else 0
    except TaskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        env.close()


if __name__ == "__main__":
    sys.exit(main())
