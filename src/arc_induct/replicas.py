"""Independent vLLM server replicas: one per GPU, or N on the CPU, each on a free port.

Covered: starting `vllm.entrypoints.openai.api_server` processes of one model folder from the
run's serving section, a frozen `ServingConfig` (FP8 KV cache, max model length, memory share,
prefix caching); `served_max_len`, the configured max_model_len lowered to the model's own limit
(read from its config.json as vLLM reads it), which servers are started with; one log file per
server, waiting for `/health`; start-up that degrades instead of failing (a server that exits or
is not healthy in time is retried once on a fresh port, its log tail shown; start() returns with the servers that are up, names the others in
`startup_failures`, and raises StartupError only when none is up); a watchdog thread that
restarts a dead server on its old port, those that never started included; and shutdown that
kills whole process groups, from `stop()`, the context manager, `atexit`, SIGTERM/SIGHUP, or
(Linux) the parent's death. GPU and CPU servers go through the same path. `server_metrics` reads a
server's Prometheus counters (prefix-cache hits, running/waiting requests).

Not covered: routing requests (router.py), choosing the model, and servers on other hosts (pass
their URLs to the Router directly). Independent replicas are deliberate: on Kaggle's 4xL4 they were
faster than vLLM's own data parallel (vLLM issues 30655, 24461, 17129).
"""

from __future__ import annotations

import atexit
import ctypes
import dataclasses
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


class ReplicaError(RuntimeError):
    """A server did not come up; the message names its log file and quotes the log's tail."""


class StartupError(ReplicaError):
    """No server came up, each tried twice; the message names each one's log and quotes a tail."""


@dataclass(frozen=True)
class ServingConfig:
    """The run's serving section: how many vLLM servers, and how each is started."""

    replicas: int = 2
    gpus: int = 0                       # 0 = CPU; else server i gets CUDA_VISIBLE_DEVICES=i % gpus
    served_model_name: str = "arc-induct"  # the `model` field requests must carry
    max_model_len: int = 4096          # lowered to the model's own limit when that is shorter
    kv_cache_dtype: str = "auto"        # "fp8_e4m3" on L4s; "fp8" on the CPU
    gpu_memory_utilization: float = 0.9  # per server; on the CPU vLLM sizes the cache by cpu_kvcache_gib
    cpu_kvcache_gib: int = 1            # VLLM_CPU_KVCACHE_SPACE for CPU servers
    prefix_caching: bool = True
    max_num_seqs: int | None = None
    enforce_eager: bool = False         # skip torch.compile/CUDA graphs: ~25 s faster start, slower decode
    host: str = "127.0.0.1"
    startup_timeout_s: float = 600.0
    watchdog_interval_s: float = 2.0
    max_restarts: int = 3               # per server; a crash loop stops being retried after this
    extra_args: tuple[str, ...] = ()
    extra_env: tuple[tuple[str, str], ...] = ()


# The keys vLLM reads a model's context length from (the smallest present wins), and the RoPE
# scalings whose factor it multiplies in (YaRN-like ones are already scaled in the config).
_LENGTH_KEYS = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "model_max_length",
                "max_target_positions", "max_sequence_length", "max_seq_length", "seq_len")
_SCALED_ALREADY = ("su", "longrope", "llama3", "yarn", "deepseek_yarn", "deepseek_llama_scaling")


def model_max_len(model: Path) -> int | None:
    """The longest sequence a model folder allows, as vLLM derives it (config.json, its text_config
    for multimodal models, the RoPE factor, the tokenizer's model_max_length); None when unstated."""
    try:
        config = json.loads((Path(model) / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise ReplicaError(f"{model}/config.json: cannot read the model's config ({e})") from None
    config = config.get("text_config") or config
    limits = [config[k] for k in _LENGTH_KEYS if isinstance(config.get(k), (int, float))]
    try:
        tokenizer_limit = json.loads((Path(model) / "tokenizer_config.json").read_text()).get("model_max_length")
    except (OSError, ValueError):
        tokenizer_limit = None
    if isinstance(tokenizer_limit, (int, float)) and limits:
        limits.append(tokenizer_limit)
    if not limits:
        return None
    rope = config.get("rope_scaling") or config.get("rope_parameters") or {}
    kind = rope.get("rope_type") or rope.get("type") if isinstance(rope, dict) else None
    factor = rope.get("factor") if isinstance(rope, dict) and kind not in _SCALED_ALREADY else None
    return int(min(limits) * (factor or 1.0))


def served_max_len(configured: int, model: Path | None) -> int:
    """max_model_len a server of `model` runs with: the configured value, or the model's own limit
    when that is shorter (vLLM refuses to start with more than the model allows)."""
    limit = model_max_len(model) if model is not None else None
    return configured if limit is None else min(configured, limit)


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports the OS reports free now. All sockets stay open until the end so no two are equal."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status == 200
    except OSError:  # refused, reset, timed out, HTTP errors: all mean "not ready"
        return False


def server_metrics(endpoint: str, timeout: float = 10.0) -> dict[str, float]:
    """A vLLM server's Prometheus metrics, each name summed over its labels (e.g. per-model)."""
    with urllib.request.urlopen(endpoint.rstrip("/") + "/metrics", timeout=timeout) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{", 1)[0]
        try:
            out[name] = out.get(name, 0.0) + float(value)
        except ValueError:
            continue  # exemplars or exotic lines are not counters we use
    return out


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log written)"


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the thread that started it exits.

    Linux only; covers the one exit no handler can catch (the parent being SIGKILLed). SIGTERM, not
    SIGKILL: a SIGKILLed API server leaves its EngineCore process orphaned, while SIGTERM makes it
    shut the engine down. The signal follows the launching *thread*, so servers are launched from
    the caller's thread or the watchdog, both of which live until stop()."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except OSError:
        pass


@dataclass
class _Server:
    index: int
    port: int
    log_path: Path
    proc: subprocess.Popen | None = None
    restarts: int = 0
    left_down: bool = False  # died after its last allowed restart (said once)


class Replicas:
    """Start `config.replicas` servers of `model`; `endpoints` lists their base URLs (http://host:port).
    Each server logs to `log_dir/replica-I.log`; `python` is an interpreter with vllm (or vllm-cpu)."""

    def __init__(self, model: Path, config: ServingConfig, log_dir: Path, python: str = sys.executable) -> None:
        if config.replicas < 1:
            raise ValueError(f"serving.replicas must be >= 1, got {config.replicas}")
        if not (Path(model) / "config.json").is_file():
            raise ReplicaError(f"{model}: not a model folder (no config.json)")
        length = served_max_len(config.max_model_len, Path(model))
        if length < config.max_model_len:
            log.info("max_model_len %d: the model's own limit (%d configured)", length, config.max_model_len)
            config = dataclasses.replace(config, max_model_len=length)
        self.model, self.config, self.log_dir, self.python = Path(model), config, Path(log_dir), python
        self._servers: list[_Server] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watchdog: threading.Thread | None = None
        self.startup_failures: list[str] = []  # one line per server that did not start, for the report

    @property
    def endpoints(self) -> list[str]:
        return [f"http://{self.config.host}:{s.port}" for s in self._servers]

    @property
    def restarts(self) -> list[int]:
        return [s.restarts for s in self._servers]

    def __enter__(self) -> "Replicas":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "Replicas":
        """Launch every server and wait until each is healthy or has failed twice; return with
        those that are up (the watchdog keeps trying the others). StartupError if none is."""
        cfg = self.config
        self.log_dir.mkdir(parents=True, exist_ok=True)
        ports = free_ports(cfg.replicas, cfg.host)
        self._servers = [_Server(i, p, self.log_dir / f"replica-{i}.log") for i, p in enumerate(ports)]
        atexit.register(self.stop)
        _install_signal_handlers()
        try:
            for s in self._servers:
                self._launch(s)
            failed = self._wait_started()
            self.startup_failures = [f"replica {s.index} did not start, twice ({why}); log {s.log_path}"
                                     for s, why in failed]
            if len(failed) == len(self._servers):
                s, why = failed[-1]
                raise StartupError(f"no replica started: {'; '.join(self.startup_failures)}\n"
                                   f"log {s.log_path} ends with:\n{log_tail(s.log_path)}")
        except BaseException:  # includes Ctrl-C during the long startup: never leave servers behind
            self.stop()
            raise
        self._watchdog = threading.Thread(target=self._watch, name="replica-watchdog", daemon=True)
        self._watchdog.start()
        return self

    def _wait_started(self) -> list[tuple[_Server, str]]:
        """Wait until each server is healthy or has failed twice; the failed ones, with why.

        A server that exits, or is not healthy within startup_timeout_s (then it is killed), is
        launched again at once on a fresh port (the old one may be why it failed: another process
        took it), its log tail shown; after a second failure the run goes on without it."""
        timeout = self.config.startup_timeout_s
        since = {s.index: time.monotonic() for s in self._servers}
        tries = {s.index: 1 for s in self._servers}
        pending, failed = list(self._servers), []
        while pending:
            for s in list(pending):
                if s.proc is not None and s.proc.poll() is not None:
                    why = f"exited with status {s.proc.returncode}"
                elif http_ok(f"http://{self.config.host}:{s.port}/health"):
                    pending.remove(s)
                    continue
                elif time.monotonic() - since[s.index] > timeout:
                    why = f"not healthy after {timeout:.0f} s"
                else:
                    continue
                _kill_groups([s.proc])  # what is left of it: a hung server, an orphaned engine process
                if tries[s.index] == 1:
                    log.warning("replica %d did not start (%s); retrying once; log %s ends with:\n%s",
                                s.index, why, s.log_path, log_tail(s.log_path))
                    s.port = free_ports(1, self.config.host)[0]
                    self._launch(s)
                    since[s.index], tries[s.index] = time.monotonic(), 2
                else:
                    log.warning("replica %d did not start twice (%s); going on without it (the watchdog starts it "
                                "again later); log %s ends with:\n%s", s.index, why, s.log_path, log_tail(s.log_path))
                    failed.append((s, why))
                    pending.remove(s)
            if pending:
                time.sleep(0.5)
        return failed

    def command(self, port: int) -> list[str]:
        cfg = self.config
        cmd = [
            self.python, "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(self.model), "--served-model-name", cfg.served_model_name,
            "--host", cfg.host, "--port", str(port),
            "--max-model-len", str(cfg.max_model_len),
            "--gpu-memory-utilization", str(cfg.gpu_memory_utilization),
            "--kv-cache-dtype", cfg.kv_cache_dtype,
            "--enable-prefix-caching" if cfg.prefix_caching else "--no-enable-prefix-caching",
        ]
        if cfg.max_num_seqs:
            cmd += ["--max-num-seqs", str(cfg.max_num_seqs)]
        if cfg.enforce_eager:
            cmd.append("--enforce-eager")
        if cfg.gpus == 0:
            # vllm-cpu 0.32 crashes its engine when a seeded request is prefilled in chunks (it rewinds
            # the sampler's generator, and the CPU generator has no offset: "CPU Generator does not
            # use offset"). Whole-prompt prefill avoids that path; every request carries a seed.
            cmd += ["--no-enable-chunked-prefill", "--max-num-batched-tokens", str(max(cfg.max_model_len, 2048))]
        return cmd + list(cfg.extra_args)

    def server_env(self, index: int) -> dict[str, str]:
        # The child inherits this process's environment (PATH, HF_HOME, ...); the config adds to it.
        env = dict(os.environ)
        if self.config.gpus > 0:
            env["CUDA_VISIBLE_DEVICES"] = str(index % self.config.gpus)
        else:
            env["VLLM_CPU_KVCACHE_SPACE"] = str(self.config.cpu_kvcache_gib)
        env.update(dict(self.config.extra_env))
        return env

    def _launch(self, s: _Server) -> None:
        with open(s.log_path, "ab") as logf:
            logf.write(f"\n=== arc_induct: starting replica {s.index} on port {s.port} ===\n".encode())
            logf.flush()
            s.proc = subprocess.Popen(
                self.command(s.port), stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.server_env(s.index), start_new_session=True,  # its own process group, killed as one
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        log.info("replica %d: pid %d, port %d, log %s", s.index, s.proc.pid, s.port, s.log_path)

    def wait_healthy(self, timeout_s: float | None = None) -> None:
        """Block until every server answers /health with 200; ReplicaError (with log tail) if not."""
        deadline = time.monotonic() + (timeout_s or self.config.startup_timeout_s)
        pending = list(self._servers)
        while pending:
            for s in list(pending):
                if s.proc is not None and s.proc.poll() is not None and not self._watchdog:
                    raise ReplicaError(
                        f"replica {s.index} exited with status {s.proc.returncode} during startup; "
                        f"log {s.log_path} ends with:\n{log_tail(s.log_path)}")
                if http_ok(f"http://{self.config.host}:{s.port}/health"):
                    pending.remove(s)
            if pending and time.monotonic() > deadline:
                s = pending[0]
                raise ReplicaError(
                    f"replica {s.index} not healthy after {timeout_s or self.config.startup_timeout_s:.0f}s; "
                    f"log {s.log_path} ends with:\n{log_tail(s.log_path)}")
            if pending:
                time.sleep(0.5)

    def _watch(self) -> None:
        """Restart servers that died (a crash, an OOM kill); stop retrying after max_restarts."""
        while not self._stopping.wait(self.config.watchdog_interval_s):
            with self._lock:
                for s in self._servers:
                    if self._stopping.is_set() or s.proc is None or s.proc.poll() is None:
                        continue
                    if s.restarts >= self.config.max_restarts:
                        if not s.left_down:
                            s.left_down = True
                            log.error("replica %d died (status %s) after %d restarts: left down; its requests go "
                                      "to the others; log %s ends with:\n%s", s.index, s.proc.returncode,
                                      s.restarts, s.log_path, log_tail(s.log_path, 10))
                        continue
                    log.warning("replica %d died (status %s); restarting on port %d; log %s ends with:\n%s",
                                s.index, s.proc.returncode, s.port, s.log_path, log_tail(s.log_path, 10))
                    _kill_groups([s.proc])  # its engine subprocesses may have outlived it
                    s.restarts += 1
                    self._launch(s)

    def stop(self) -> None:
        """Kill every server's process group: SIGTERM, then SIGKILL after a grace period. Idempotent."""
        self._stopping.set()
        with self._lock:
            _kill_groups([s.proc for s in self._servers if s.proc is not None])
        if self._watchdog is not None and self._watchdog is not threading.current_thread():
            self._watchdog.join(timeout=5)
        atexit.unregister(self.stop)

    def kill(self, index: int, sig: int = signal.SIGKILL) -> None:
        """Kill one server's process group as a crash would (for tests and drills)."""
        proc = self._servers[index].proc
        if proc is not None:
            os.killpg(proc.pid, sig)


def _kill_groups(procs: list[subprocess.Popen], grace_s: float = 10.0) -> None:
    """SIGTERM every group at once (vLLM shuts its engine down), then SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        for p in procs:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass  # no process of that group is left
        deadline = time.monotonic() + wait
        for p in procs:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass


def _install_signal_handlers() -> None:
    """Turn SIGTERM/SIGHUP into SystemExit so `finally`, context managers and atexit run.

    Only from the main thread, and only where the default handler is in place (the caller's own
    handlers win). Ctrl-C already raises KeyboardInterrupt, which unwinds the same way."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_DFL:
            signal.signal(sig, _exit_on_signal)


def _exit_on_signal(signum, frame) -> None:
    raise SystemExit(128 + signum)
