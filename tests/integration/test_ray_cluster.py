"""A real two-node Ray cluster on this machine: a head (`ray start --head`) and a second node that offers the custom
resource `rollout_node` (its own temp dir and ports). `rl.train` joins it with `ray.address`, and
`rollout.resources={rollout_node: 1}` / `rewards.resources` place those workers on the second node.
Checked from Ray's state API (which node each actor ran on) and from the run's metrics (after each weight sync
the engine on the other node agrees with the learner: MIS-PO keeps ~every token). Then the second node dies
mid-run (every process of it SIGKILLed, like a crashed machine): the run must stop within a bounded time with a
non-zero exit and one line saying to resume with trainer.resume=auto.

`ray stop` would stop every Ray instance on the machine (it has no per-temp-dir option), so each node runs as
`ray start --block` in its own session and is torn down by killing that session's processes."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from proc_helpers import session_procs

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.serial]

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).parent / "ray")
# the nodes and drivers of this test: no token auth (a token in ~/.ray would switch it on for the head only), no
# usage stats, and no inherited RAY_ADDRESS
ENV = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, "RAY_AUTH_MODE": "disabled",
       "RAY_USAGE_STATS_ENABLED": "0"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One `ray start --block` in its own session, with its own temp dir and ports."""

    def __init__(self, name: str, root: Path, args: list[str]) -> None:
        self.name, self.temp = name, root / name
        self.log = root / f"{name}.log"
        ports = ["--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
                 "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port"]
        port_args = [a for flag in ports for a in (flag, str(_free_port()))]
        with self.log.open("w") as f:
            self.proc = subprocess.Popen([RAY, "start", "--block", "--disable-usage-stats", "--temp-dir",
                                          str(self.temp), *port_args, *args], cwd=ROOT, env=ENV, stdout=f,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> list[str]:
        """SIGKILL every process of the node (raylet, agents, workers): a crashed machine."""
        procs = session_procs(self.proc.pid)
        for pid in procs:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.wait(timeout=30)
        return sorted(procs.values())


class Cluster:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="mispo-ray-", dir="/tmp"))  # short: unix socket paths
        self.port, self.dashboard = _free_port(), _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: list[Node] = []

    def start(self) -> None:
        self.nodes.append(Node("head", self.root, [
            "--head", "--port", str(self.port), "--num-cpus", "2", "--include-dashboard", "true",
            "--dashboard-host", "127.0.0.1", "--dashboard-port", str(self.dashboard),
            "--ray-client-server-port", str(_free_port())]))
        self._wait_nodes(1)
        self.nodes.append(Node("node2", self.root, [
            "--address", self.address, "--num-cpus", "1", "--resources", json.dumps({"rollout_node": 2})]))
        self._wait_nodes(2)

    def alive_nodes(self):
        from ray.util.state import list_nodes

        return [n for n in list_nodes(address=self.address, detail=True) if n.state == "ALIVE"]

    def _wait_nodes(self, n: int, timeout: float = 90.0) -> None:
        deadline, err = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            for node in self.nodes:
                assert node.proc.poll() is None, f"{node.name} exited:\n{node.log.read_text()[-3000:]}"
            try:
                if len(self.alive_nodes()) >= n:
                    return
            except Exception as exc:  # noqa: BLE001 - GCS or dashboard not up yet
                err = exc
            time.sleep(1.0)
        raise AssertionError(f"{n} Ray node(s) not up within {timeout} s ({err}):\n" +
                             "\n".join(node.log.read_text()[-2000:] for node in self.nodes))

    def teardown(self) -> None:
        for node in reversed(self.nodes):
            node.kill()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    try:
        c.start()
        yield c
    finally:
        c.teardown()


def _args(cluster: Cluster, run_dir: Path, steps: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "rl.train", "--config", "mispo_math_code.yaml", f"trainer.total_steps={steps}",
            f"trainer.run_dir={run_dir}", f"ray.address={cluster.address}", "algo.advantage=grpo",
            "data.train_files=[data/math_train.jsonl]", "data.domain_weights.code=0", "rollout.prompts_per_step=4",
            "rollout.samples_per_prompt=4", "actor.micro_batch_size=4", "actor.mini_batches=2",
            "logging.progress_bar=false", "logging.wandb.mode=disabled", "rollout.resources={rollout_node: 1}",
            *extra]


def _run(args: list[str], log: Path, timeout: float) -> tuple[int, str]:
    with log.open("w") as f:
        proc = subprocess.Popen(args, cwd=ROOT, env=ENV, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        rc = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return rc, log.read_text()


def test_placement_check_sees_the_clusters_custom_resources(cluster):
    """rl/placement.py against the live cluster: rollout_node exists (2 on the second node), gpu_node does not."""
    import ray

    from config.errors import ConfigError
    from config.load import load_config
    from config.rl import RLConfig
    from rl.placement import check_resources
    from rl.run_summary import resource_plan

    def plan(*overrides):
        return resource_plan(load_config(RLConfig, "mispo_math_code.yaml", list(overrides)))

    ray.init(address=cluster.address, include_dashboard=False)
    try:
        check_resources(plan("rollout.resources={rollout_node: 1}", "rewards.resources={rollout_node: 1}"))
        with pytest.raises(ConfigError, match="rollout.resources.gpu_node: .* no node of the Ray cluster offers it"):
            check_resources(plan("rollout.resources={gpu_node: 1}"))
        with pytest.raises(ConfigError, match="rollout.resources.rollout_node / rewards.resources.rollout_node: "
                                              "roles need 3 .* the Ray cluster has 2"):
            check_resources(plan("rollout.resources={rollout_node: 2}", "rewards.resources={rollout_node: 1}"))
        with pytest.raises(ConfigError, match="rollout: one worker needs {CPU: 2, rollout_node: 1} on one node"):
            check_resources(plan("rollout.resources={rollout_node: 1}", "rollout.num_cpus_per_worker=2",
                                 "actor.num_cpus_per_worker=0.1", "critic.num_cpus_per_worker=0.1",
                                 "rewards.num_cpus_per_worker=0.1"))
    finally:
        ray.shutdown()


def test_rollout_and_reward_workers_run_on_the_second_node_and_get_the_weights(cluster, tmp_path):
    t0 = time.monotonic()
    run_dir = tmp_path / "run"
    rc, out = _run(_args(cluster, run_dir, 2, "rewards.resources={rollout_node: 1}"), tmp_path / "run.log", 240)
    assert rc == 0, out[-4000:]
    assert "rollout    1 x (0.5 CPU, 0.0 GPU, rollout_node 1)" in out

    from ray.util.state import list_actors

    second = next(n.node_id for n in cluster.alive_nodes() if n.resources_total.get("rollout_node"))
    where: dict[str, set[str]] = {}
    for a in list_actors(address=cluster.address, detail=True, limit=1000):
        where.setdefault(a.class_name, set()).add(a.node_id)
    assert where["RolloutWorker"] == {second} and where["RewardWorker"] == {second}, where
    assert second not in where["Learner"], where

    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and rows[1]["policy/version"] == 2.0
    # step 2 was generated on the second node with the weights synced after step 1 (fp32): pi_old == pi_rollout
    last = rows[1]
    assert last["mispo/keep_frac"] > 0.99, last
    assert abs(last["mispo/ratio_max"] - 1) < 1e-3 and abs(last["mispo/ratio_min"] - 1) < 1e-3, last
    assert abs(last["mispo/rollout_kl_k1"]) < 1e-4, last
    print(f"\nworkers on node {second[:8]}: {sorted(where)}; step 2 keep_frac {last['mispo/keep_frac']:.4f}, "
          f"ratio [{last['mispo/ratio_min']:.6f}, {last['mispo/ratio_max']:.6f}]; {time.monotonic() - t0:.0f} s")


def test_losing_the_rollout_node_mid_run_stops_the_run_with_a_resume_hint(cluster, tmp_path):
    run_dir = tmp_path / "run"
    log = tmp_path / "run.log"
    with log.open("w") as f:
        proc = subprocess.Popen(_args(cluster, run_dir, 50, "trainer.worker_restart_timeout_s=20"), cwd=ROOT,
                                env=ENV, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        metrics = run_dir / "metrics.jsonl"
        while not (metrics.is_file() and metrics.read_text().strip()):
            assert proc.poll() is None, f"the run ended (rc {proc.returncode}) early:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no step within 180 s:\n{log.read_text()[-3000:]}"
            time.sleep(0.2)
        killed = cluster.nodes[1].kill()
        lost_at = time.monotonic()
        try:
            rc = proc.wait(timeout=150)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the run hangs 150 s after its rollout node died:\n{log.read_text()[-3000:]}")
        stopped_s = time.monotonic() - lost_at
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    out = log.read_text()
    steps = len(metrics.read_text().splitlines())
    print(f"\nnode killed ({len(killed)} processes) after step >= 1; run ended rc {rc} in {stopped_s:.1f} s, "
          f"{steps} step(s) logged")
    assert rc != 0, out[-3000:]
    hints = [line for line in out.splitlines() if line.startswith("error:") and "trainer.resume=auto" in line]
    raw = [line for line in out.splitlines() if "trainer.resume=auto" in line and not line.startswith("error:")]
    assert len(hints) == 1, (f"expected one `error: ... trainer.resume=auto` line (the clean stop of rl/train.py); "
                             f"other lines naming the hint: {raw[-2:]}\n" + out[-3000:])
    print(hints[0][:300])
    assert stopped_s < 120, f"the run took {stopped_s:.0f} s to stop after losing its rollout node"

    from ray.util.state import list_actors

    deadline = time.monotonic() + 30
    while alive := [a.class_name for a in list_actors(address=cluster.address, filters=[("state", "=", "ALIVE")])]:
        assert time.monotonic() < deadline, f"actors of the stopped run still alive on the cluster: {alive}"
        time.sleep(1.0)
