"""Killed workers during a step (issue 11, section 4), at the driver's RolloutStream with real Ray, the tiny model
and real worker processes: a rollout worker killed with SIGKILL mid-generation is replaced, brought to the current
weights (object store: a new receiver; gloo: the group is rebuilt) and its chunk regenerated with the same seed,
giving the samples the dead worker would have produced; a hung one (SIGSTOP) is killed after hang_timeout_s; a
reward worker killed mid-scoring masks its chunk (status error) and is replaced; too many failed samples stop the
step (TooManyFaults); a replacement that cannot be placed raises WorkerLost."""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
pytestmark = pytest.mark.ray
SAMPLES, MAX_NEW, TEMPERATURE = 32, 160, 3.0  # 2 prompts, one chunk each: ~1-3 s per chunk on a loaded CPU


@pytest.fixture(scope="module")
def fault_ray():
    """Ray with tests/integration importable in every worker (the stand-ins of fault_fixtures.py)."""
    import ray

    ray.shutdown()  # not a cluster an earlier test left up: its workers lack this PYTHONPATH
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), str(REPO), old or ""])
    sys.path.insert(0, str(HERE))
    ray.init(num_cpus=4, include_dashboard=False, ignore_reinit_error=True)
    yield
    ray.shutdown()
    sys.path.remove(str(HERE))
    if old is None:
        os.environ.pop("PYTHONPATH")
    else:
        os.environ["PYTHONPATH"] = old


def _prompts(tok, n: int = 2) -> list:
    from rl.data import PromptRecord

    out = []
    for i in range(n):
        text = tok.apply_chat_template([{"role": "user", "content": f"What is {i + 3} * {i + 7}?"}],
                                       add_generation_prompt=True, tokenize=False)
        out.append(PromptRecord("math", text, tok(text, add_special_tokens=False).input_ids, str((i + 3) * (i + 7))))
    return out


class Rig:
    """Two rollout workers, two reward workers (SlowVerifier), a learner stand-in and the stream over them; chunk i
    (one prompt, SAMPLES samples) runs on rollout worker i and is scored by reward worker i."""

    def __init__(self, model: str, tok, method: str = "object_store", verifier: dict | None = None,
                 **stream_kw) -> None:
        import ray
        from fault_fixtures import SenderStandIn

        from config.rewards import DomainRewardConfig, RewardsConfig
        from config.rl import DynamicSamplingConfig, OverlongConfig
        from config.rollout import RolloutConfig
        from rl.data import PromptSampler
        from rl.roles import start_reward_workers, start_rollout_workers
        from rl.rollout_dispatch import RolloutStream
        from rl.weight_sync import WeightSync
        from rollout.types import SamplingParams

        self.cfg = RolloutConfig(num_workers=2, torch_threads=1, prompts_per_step=2, samples_per_prompt=SAMPLES,
                                 stream_chunk_prompts=1, max_new_tokens=MAX_NEW, temperature=TEMPERATURE,
                                 weight_sync=method, weight_bucket_mb=1)
        rewards = RewardsConfig(domains={"math": DomainRewardConfig("fault_fixtures:SlowVerifier", verifier or {})},
                                num_workers=2, timeout_s=60)
        self.rollout = start_rollout_workers(self.cfg, model, "float32", restart_timeout_s=60)
        self.reward = start_reward_workers(rewards, restart_timeout_s=60)
        self.sender = ray.remote(SenderStandIn).options(num_cpus=0.5).remote(model)
        self.weights = WeightSync(self.cfg, self.sender, self.rollout)
        self.sampling = SamplingParams(n=SAMPLES, temperature=TEMPERATURE, max_new_tokens=MAX_NEW)
        self.stream = RolloutStream(self.rollout, self.reward, PromptSampler({"math": _prompts(tok)}, {"math": 1.0}, 0),
                                    self.sampling, self.cfg, OverlongConfig(), DynamicSamplingConfig(), 7,
                                    weights=self.weights, **stream_kw)

    def update(self, version: int) -> None:
        """A learner "update" then the sync: every engine holds `version`."""
        import ray

        ray.get(self.sender.step.remote(version))
        self.weights(version)

    def close(self) -> None:
        import ray

        for w in [*self.rollout, *self.reward]:
            try:
                ray.get(w.close.remote(), timeout=30)
            except Exception:  # noqa: BLE001 - a worker the test killed
                pass
            ray.kill(w)
        ray.kill(self.sender)


@pytest.fixture()
def rig_factory(fault_ray, tiny_model_path, tiny_tokenizer):
    made = []

    def make(**kw) -> Rig:
        made.append(Rig(tiny_model_path, tiny_tokenizer, **kw))
        return made[-1]

    yield make
    for rig in made:
        rig.close()


def _kill_mid_generation(rig: Rig, pending, slot: int, sig: int = signal.SIGKILL) -> float:
    """Signal the process of rollout worker `slot` while its chunk is generating; returns when (monotonic)."""
    import ray

    pid = rig.rollout.place(slot, timeout_s=30).pid
    refs = [r for r, i in pending.futures.items() if pending.slots[i] == slot]
    time.sleep(0.3)
    done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
    assert not done, "the chunk finished before the kill: make it longer (SAMPLES, MAX_NEW)"
    os.kill(pid, sig)
    return time.monotonic()


def _regenerate_reference(rig: Rig, pending) -> list[list[int]]:
    """The same chunks (requests, seeds) generated again by the now healthy workers."""
    import ray

    refs = [rig.rollout[s].rollout.remote(c, p) for c, p, s in zip(pending.chunks, pending.params, pending.slots)]
    return [t.response_ids for chunk in ray.get(refs) for t in chunk]


@pytest.mark.parametrize("method", ["object_store", "gloo"])
def test_killed_rollout_worker_is_replaced_at_current_weights_and_its_chunk_regenerated(rig_factory, method):
    rig = rig_factory(method=method)
    rig.update(1)
    old_handle = rig.rollout[0]
    pending = rig.stream.start()
    killed_at = _kill_mid_generation(rig, pending, 0)
    t0 = time.monotonic()
    drawn = rig.stream.draw(pending, 1)
    draw_s = time.monotonic() - t0

    stats, batch = drawn.stats, drawn.batch
    assert stats["faults/rollout_worker_restarts"] == 1.0 and stats["faults/reward_worker_restarts"] == 0.0
    assert stats["faults/samples_regenerated"] == SAMPLES and stats["faults/samples_lost"] == 0.0
    assert stats["faults/samples_errored"] == 0.0 and stats["faults/failed_frac"] == 0.0
    assert len(batch) == 2 * SAMPLES and all(r.ok for r in batch.results)
    assert {t.policy_version for t in batch.trajs} == {1}, "the replacement generated with stale weights"
    assert rig.rollout[0] is not old_handle
    (event,) = rig.rollout.events
    detect_s, restart_s = event.detected_at - killed_at, event.ready_at - event.detected_at
    print(f"\n{method}: SIGKILL detected after {detect_s:.3f} s, replacement up in {restart_s:.2f} s, draw "
          f"{draw_s:.2f} s (chunk regenerated at version 1)")
    assert detect_s < 5.0

    # same seeds, same weights: the regenerated chunk is what the dead worker would have produced
    assert [t.response_ids for t in batch.trajs] == _regenerate_reference(rig, pending)
    # the rebuilt weight path reaches every worker, the replacement included
    rig.update(2)
    drawn = rig.stream.draw(rig.stream.start(), 2)
    assert {t.policy_version for t in drawn.batch.trajs} == {2}
    assert drawn.stats["faults/rollout_worker_restarts"] == 0.0

    # a worker that dies between steps is found by the next sync, replaced and synced; the next draw counts it
    os.kill(rig.rollout.place(1, timeout_s=30).pid, signal.SIGKILL)
    rig.update(3)
    assert [e.slot for e in rig.rollout.events] == [0, 1]
    drawn = rig.stream.draw(rig.stream.start(), 3)
    assert {t.policy_version for t in drawn.batch.trajs} == {3}
    assert drawn.stats["faults/rollout_worker_restarts"] == 1.0 and drawn.stats["faults/samples_regenerated"] == 0


def test_hung_rollout_worker_is_killed_after_the_hang_timeout(rig_factory):
    rig = rig_factory(hang_timeout_s=3.0)
    rig.update(1)
    dispatched_at = time.monotonic()
    pending = rig.stream.start()
    stopped_at = _kill_mid_generation(rig, pending, 1, signal.SIGSTOP)
    drawn = rig.stream.draw(pending, 1)
    (event,) = rig.rollout.events
    print(f"\nhung worker (SIGSTOP): killed and replaced {event.detected_at - stopped_at:.2f} s after it stopped "
          f"(hang_timeout_s=3), replacement up in {event.ready_at - event.detected_at:.2f} s")
    # the hang clock runs from the slot's last progress (its chunk's dispatch), which precedes the stop
    assert event.slot == 1 and event.detected_at - dispatched_at >= 3.0 and 0 < event.detected_at - stopped_at < 15
    assert drawn.stats["faults/samples_regenerated"] == SAMPLES and len(drawn.batch) == 2 * SAMPLES
    assert {t.policy_version for t in drawn.batch.trajs} == {1}


def test_killed_reward_worker_masks_its_chunk_and_is_replaced(rig_factory, tmp_path):
    from rl.worker_faults import TooManyFaults

    rig = rig_factory(verifier={"delay_s": 0.1, "mark_dir": str(tmp_path)}, max_fault_frac=1.0)
    killed = {}

    def kill_reward_worker_0_when_it_scores() -> threading.Thread:
        pid = rig.reward.place(0, timeout_s=60).pid

        def watch() -> None:
            while not (tmp_path / str(pid)).exists():
                time.sleep(0.01)
            os.kill(pid, signal.SIGKILL)
            killed["at"] = time.monotonic()

        thread = threading.Thread(target=watch)
        thread.start()
        return thread

    killer = kill_reward_worker_0_when_it_scores()
    drawn = rig.stream.draw(rig.stream.start(), 0)
    killer.join()
    stats, results = drawn.stats, drawn.generated.results
    died = [r for r in results if r.status == "error"]
    assert stats["faults/reward_worker_restarts"] == 1.0 and stats["faults/rollout_worker_restarts"] == 0.0
    assert len(died) == SAMPLES and stats["faults/samples_errored"] == SAMPLES  # the chunk being scored
    assert all("reward worker 0 died" in r.details["reason"] for r in died)
    assert float(drawn.batch.valid.sum()) == SAMPLES  # masked from the loss, not scored 0
    (event,) = rig.reward.events
    print(f"\nreward worker SIGKILL: detected after {event.detected_at - killed['at']:.3f} s, replacement up in "
          f"{event.ready_at - event.detected_at:.2f} s; faults/failed_frac {stats['faults/failed_frac']}")
    assert event.detected_at - killed["at"] < 5.0

    drawn = rig.stream.draw(rig.stream.start(), 0)  # the replacement scores
    assert all(r.ok for r in drawn.generated.results) and drawn.stats["faults/reward_worker_restarts"] == 0.0

    # half of the step's samples failed: more than max_fault_frac=0.4 stops the step
    rig.stream.max_fault_frac = 0.4
    killer = kill_reward_worker_0_when_it_scores()
    with pytest.raises(TooManyFaults, match=r"32 of this step's 64 samples \(50%\).*trainer.max_fault_frac=0.4"):
        rig.stream.draw(rig.stream.start(), 0)
    killer.join()


def test_replacement_that_cannot_be_placed_raises_worker_lost(rig_factory):
    from rl.worker_faults import WorkerLost

    rig = rig_factory()
    rig.rollout.factory, rig.rollout.restart_timeout_s = _unplaceable, 2.0
    pending = rig.stream.start()
    _kill_mid_generation(rig, pending, 0)
    with pytest.raises(WorkerLost) as err:
        rig.stream.draw(pending, 0)
    text = str(err.value)
    print(f"\nWorkerLost: {text}")
    assert "rollout worker 0 on node" in text and "trainer.worker_restart_timeout_s=2" in text
    assert "trainer.resume=auto" in text


def _unplaceable():
    """An actor that no node can host (a lost node's custom resource)."""
    import ray

    @ray.remote(resources={"absent_node": 1})
    class Nowhere:
        pass

    return Nowhere.remote()
