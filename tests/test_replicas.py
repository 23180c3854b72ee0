import asyncio
import dataclasses
import json
import signal
import socket
import subprocess
import sys
import time

import pytest

from arc_induct.config import PRESETS
from arc_induct.replicas import (ReplicaError, Replicas, ServingConfig, StartupError, free_ports, http_ok,
                                 model_max_len, served_max_len, server_metrics)
from arc_induct.router import CompletionRequest, Router, RoutingConfig, SamplingConfig


def test_free_ports_are_distinct_and_bindable():
    ports = free_ports(8)
    assert len(set(ports)) == 8
    for p in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))


def test_a_folder_without_config_json_is_refused_with_its_path(tmp_path):
    with pytest.raises(ReplicaError, match=f"{tmp_path}: not a model folder"):
        Replicas(tmp_path, ServingConfig(), log_dir=tmp_path)


def test_server_command_and_env_carry_the_config(tiny_model):
    cfg = ServingConfig(replicas=4, gpus=2, kv_cache_dtype="fp8_e4m3", max_model_len=6144,
                        gpu_memory_utilization=0.85, prefix_caching=True, max_num_seqs=64)
    r = Replicas(tiny_model, cfg, log_dir=tiny_model)
    cmd = " ".join(r.command(8123))
    for flag in ("--kv-cache-dtype fp8_e4m3", "--max-model-len 6144", "--gpu-memory-utilization 0.85",
                 "--enable-prefix-caching", "--max-num-seqs 64", "--port 8123"):
        assert flag in cmd
    assert [r.server_env(i)["CUDA_VISIBLE_DEVICES"] for i in range(4)] == ["0", "1", "0", "1"]


def test_servers_take_the_models_own_limit_when_it_is_shorter(tiny_model):
    """The tiny model allows 8192 positions: a longer configured length is lowered, a shorter kept."""
    assert "--max-model-len 8192" in " ".join(Replicas(tiny_model, ServingConfig(max_model_len=16384),
                                                        log_dir=tiny_model).command(1))
    assert served_max_len(16384, tiny_model) == 8192 and served_max_len(2048, tiny_model) == 2048
    assert served_max_len(16384, None) == 16384


def _model(tmp_path, config, tokenizer=None):
    (tmp_path / "config.json").write_text(json.dumps(config))
    if tokenizer is not None:
        (tmp_path / "tokenizer_config.json").write_text(json.dumps(tokenizer))
    return tmp_path


@pytest.mark.parametrize("config, tokenizer, limit", [
    ({"max_position_embeddings": 4096}, None, 4096),
    ({"max_position_embeddings": 32768, "seq_length": 8192}, None, 8192),  # the smallest key wins
    ({"max_position_embeddings": 32768}, {"model_max_length": 16384}, 16384),
    ({"max_position_embeddings": 4096, "rope_scaling": {"rope_type": "linear", "factor": 4.0}}, None, 16384),
    ({"max_position_embeddings": 131072, "rope_scaling": {"rope_type": "yarn", "factor": 4.0}}, None, 131072),
    ({"text_config": {"max_position_embeddings": 2048}, "max_position_embeddings": 9}, None, 2048),
    ({"hidden_size": 8}, {"model_max_length": 4096}, None),  # nothing in the config: vLLM decides
])
def test_model_max_len_reads_config_json_as_vllm_does(tmp_path, config, tokenizer, limit):
    assert model_max_len(_model(tmp_path, config, tokenizer)) == limit


def test_cpu_servers_get_the_kv_cache_space_and_no_gpu(tiny_model):
    r = Replicas(tiny_model, ServingConfig(cpu_kvcache_gib=3, prefix_caching=False), log_dir=tiny_model)
    assert r.server_env(0)["VLLM_CPU_KVCACHE_SPACE"] == "3"
    assert "--no-enable-prefix-caching" in r.command(1)


# ---- start-up that degrades, on GPU replicas (a stand-in server: no GPU here) -----------------

@pytest.fixture
def fake_vllm(tmp_path):
    """An interpreter stand-in for `python -m vllm.entrypoints.openai.api_server`, because this
    machine has no GPU and vLLM cannot be made to fail on one GPU only: it serves /health (a file
    in a folder, through the standard library's http.server) on its --port, except on the GPUs
    listed in $FAIL_ON, where it prints a CUDA error and exits 1, as vLLM does on a broken GPU."""
    (tmp_path / "www").mkdir()
    (tmp_path / "www/health").write_text("ok")
    (tmp_path / "model").mkdir()
    (tmp_path / "model/config.json").write_text("{}")
    script = tmp_path / "fake-python"
    script.write_text(f"""#!/bin/sh
while [ $# -gt 0 ]; do [ "$1" = "--port" ] && PORT=$2; shift; done
case ",$FAIL_ON," in *",$CUDA_VISIBLE_DEVICES,"*)
  echo "RuntimeError: CUDA error: invalid device ordinal (GPU $CUDA_VISIBLE_DEVICES)"; exit 1;; esac
exec {sys.executable} -m http.server --bind 127.0.0.1 "$PORT" --directory {tmp_path / "www"}
""")
    script.chmod(0o755)
    return tmp_path / "model", str(script)


def test_a_gpu_replica_that_fails_to_start_is_retried_once_and_the_others_serve(fake_vllm, tmp_path, caplog):
    model, python = fake_vllm
    cfg = ServingConfig(replicas=3, gpus=3, extra_env=(("FAIL_ON", "1"),), watchdog_interval_s=0.2, max_restarts=1)
    with caplog.at_level("WARNING", logger="arc_induct.replicas"):
        with Replicas(model, cfg, log_dir=tmp_path / "logs", python=python) as r:
            assert r.startup_failures == [f"replica 1 did not start, twice (exited with status 1); "
                                          f"log {tmp_path / 'logs/replica-1.log'}"]
            assert http_ok(r.endpoints[0] + "/health") and http_ok(r.endpoints[2] + "/health")
            deadline = time.monotonic() + 20
            # The watchdog keeps trying it (up to max_restarts), then leaves it down, saying so once.
            while not any("left down" in m.getMessage() for m in caplog.records):
                assert time.monotonic() < deadline
                time.sleep(0.1)
            time.sleep(3 * cfg.watchdog_interval_s)
            assert r.restarts[1] == 1
    assert (tmp_path / "logs/replica-1.log").read_text().count("invalid device ordinal (GPU 1)") >= 3
    shown = [m.getMessage() for m in caplog.records if m.getMessage().startswith("replica 1 did not start")]
    assert len(shown) == 2 and all("invalid device ordinal" in m for m in shown)  # each failure, its log tail
    # Each later death shows its log tail too: why it died is on the console, not only in the file.
    died = [m.getMessage() for m in caplog.records if m.getMessage().startswith("replica 1 died")]
    assert len(died) == 2 and "restarting" in died[0] and "left down" in died[1]
    assert all("invalid device ordinal" in m for m in died)


def test_with_no_replica_up_start_raises_startup_error_with_each_log(fake_vllm, tmp_path):
    model, python = fake_vllm
    cfg = ServingConfig(replicas=2, gpus=2, extra_env=(("FAIL_ON", "0,1"),))
    with pytest.raises(StartupError, match=r"(?s)no replica started: replica 0 did not start, twice .*"
                                           r"replica 1 did not start, twice .*invalid device ordinal"):
        Replicas(model, cfg, log_dir=tmp_path / "logs", python=python).start()


# ---- real vllm-cpu servers ------------------------------------------------------------------

# A server that cannot start (retried once, then StartupError with its log tail) is tested through
# the CLI in test_run.py, one failing start-up for both modules: each costs a vLLM import.


@pytest.mark.vllm
def test_a_killed_replica_loses_no_request_and_comes_back(cpu_replicas):
    eps = cpu_replicas.endpoints

    async def go():
        async with Router(eps, "tiny", RoutingConfig(policy="round_robin", backoff_s=0.2)) as r:
            # Lengths differ so completions spread out in time instead of finishing in one batch.
            reqs = [CompletionRequest(f"t{i % 4}", i, "0 1 2 3\n" * 100, seed=i, n=2,
                                      sampling=SamplingConfig(max_tokens=16 + 8 * i)) for i in range(48)]
            pending = [asyncio.ensure_future(r.complete(q)) for q in reqs]
            # Kill while replica 0 holds requests. Waiting for some to finish first let the loaded CI
            # machine finish replica 0's whole share before a poll saw it busy.
            while r.load[0] < 2:
                assert not all(p.done() for p in pending), "workload ended before the kill"
                await asyncio.sleep(0.02)
            cpu_replicas.kill(0)
            return await asyncio.gather(*pending), r.failures

    try:
        done, failures = asyncio.run(go())
        assert len(done) == 48 and all(len(c.texts) == 2 for c in done)
        assert failures >= 1  # some requests really were on the killed replica and were re-sent
    finally:
        time.sleep(3 * cpu_replicas.config.watchdog_interval_s)  # let the watchdog see the death
        cpu_replicas.wait_healthy(timeout_s=300)  # later tests share these replicas
    assert cpu_replicas.restarts == [1, 0]
    assert http_ok(eps[0] + "/health")
    assert "vllm:num_requests_running" in server_metrics(eps[0])


def _descendants(pid: int) -> list[int]:
    import psutil

    return [p.pid for p in psutil.Process(pid).children(recursive=True)]


@pytest.mark.vllm
@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 0), (signal.SIGTERM, 128 + signal.SIGTERM),
                                         (signal.SIGKILL, -signal.SIGKILL)])
def test_stopping_serve_leaves_no_server_process(tiny_model, tmp_path, sig, status):
    """Ctrl-C and SIGTERM unwind through Replicas.stop; SIGKILL can't be caught, so the servers'
    parent-death signal must take them down."""
    import psutil

    cli = subprocess.Popen(
        [sys.executable, "-m", "arc_induct", "serve", "--model", str(tiny_model), "--preset", "cpu-smoke",
         "--replicas", "1", "--log-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        endpoint = cli.stdout.readline().strip()  # printed once the server is healthy
        assert endpoint.startswith("http://127.0.0.1:"), cli.stderr.read()
        servers = _descendants(cli.pid)
        assert servers and http_ok(endpoint + "/health")
        cli.send_signal(sig)
        assert cli.wait(timeout=60) == status
        deadline = time.monotonic() + 30
        while any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in servers):
            assert time.monotonic() < deadline, f"orphans left: {servers}"
            time.sleep(0.5)
        assert not http_ok(endpoint + "/health")
    finally:
        if cli.poll() is None:
            cli.kill()


@pytest.mark.vllm
def test_serve_with_no_flags_runs_a_model_with_a_shorter_context(keyed_server):
    """`arc-induct serve --model DIR --replicas 1` on a 2048-position model (the default max_model_len
    is 4096, which vLLM would refuse) comes up, with the model's own limit."""
    import urllib.request

    url, key, _ = keyed_server
    request = urllib.request.Request(url + "/v1/models", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=10) as r:
        models = json.loads(r.read())["data"]
    assert ServingConfig().max_model_len > 2048
    assert [(m["id"], m["max_model_len"]) for m in models] == [("arc-induct", 2048)]
