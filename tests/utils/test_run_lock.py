"""The run lock (issue 20): one writer per run dir, the holder named, never stale after a crash."""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from slim_dg.config import get_cfg_defaults
from slim_dg.engine.launch import main
from slim_dg.utils.run_lock import LOCK_FILE, RunLock, RunLockedError, probe

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# a process that takes the lock of argv[1], says so, and keeps it until it is killed
HOLDER = ("import sys, time\nfrom slim_dg.utils.run_lock import RunLock\nRunLock.acquire(sys.argv[1])\n"
          "print('locked', flush=True)\ntime.sleep(600)\n")


@pytest.fixture
def holder(tmp_path):
    """Starts ``HOLDER`` on a directory; yields (process, dir); kills it at the end."""
    procs = []

    def start(run_dir: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, run_dir], stdout=subprocess.PIPE, text=True,
                                env=dict(os.environ, PYTHONPATH=REPO), cwd=REPO)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "locked"
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_a_second_lock_names_the_holder_and_release_frees_it(tmp_path):
    run_dir = str(tmp_path / "run")
    lock = RunLock.acquire(run_dir)
    with pytest.raises(RunLockedError, match=rf"in use by pid {os.getpid()}, host {socket.gethostname()}, since 20"):
        RunLock.acquire(run_dir)
    assert probe(run_dir).startswith(f"pid {os.getpid()}, ")
    open(os.path.join(run_dir, "log.txt"), "w").close()  # the run wrote something: its dir stays
    lock.release()
    assert probe(run_dir) is None
    assert sorted(os.listdir(run_dir)) == [LOCK_FILE, "log.txt"]
    RunLock.acquire(run_dir).release()


def test_a_lock_that_made_an_empty_dir_leaves_nothing_and_probe_creates_nothing(tmp_path):
    run_dir = str(tmp_path / "a" / "run")
    assert probe(run_dir) is None and not os.path.exists(run_dir)
    RunLock.acquire(run_dir).release()
    assert not os.path.exists(run_dir)


@pytest.mark.slow
def test_a_lock_held_by_a_killed_process_is_not_stale(tmp_path, holder):
    run_dir = str(tmp_path / "run")
    proc = holder(run_dir)
    assert probe(run_dir).startswith(f"pid {proc.pid}, host {socket.gethostname()}")
    with pytest.raises(RunLockedError, match=f"pid {proc.pid}"):
        RunLock.acquire(run_dir)
    proc.send_signal(signal.SIGKILL)  # no clean-up runs: the kernel alone releases the lock
    proc.wait()
    assert os.path.isfile(os.path.join(run_dir, LOCK_FILE))  # the file stays, the lock does not
    assert probe(run_dir) is None
    RunLock.acquire(run_dir).release()


@pytest.mark.slow
@pytest.mark.parametrize("flags", [["--overwrite"], []], ids=["overwrite", "resume"])
def test_train_into_a_locked_dir_stops_at_once_naming_the_holder(tmp_path, holder, capsys, flags):
    run_dir = str(tmp_path / "run")
    proc = holder(run_dir)
    cfg = get_cfg_defaults()
    cfg.DATASET.TARGET_DOMAINS = ["texture"]
    with open(os.path.join(run_dir, "config.yaml"), "w") as f:  # what --resume reads
        f.write(cfg.dump())
    args = ["--resume", run_dir] if not flags else [*flags, "--output-dir", run_dir, "--target-domains", "texture"]
    tic = time.perf_counter()
    with pytest.raises(SystemExit) as e:
        main([*args, "USE_CUDA", "False"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0  # one line
    assert err.startswith(f"error: {run_dir} is in use by pid {proc.pid}, host {socket.gethostname()}, since ")
    assert time.perf_counter() - tic < 30  # nothing was built (no dataset, no model)
    assert sorted(os.listdir(run_dir)) == [LOCK_FILE, "config.yaml"]  # and nothing written


@pytest.mark.slow
def test_train_passes_through_a_dir_locked_by_a_dead_run(tmp_path, digits_root, holder):
    """A real train.py (2 steps) into the dir of a run that was killed: the old lock does not stop it."""
    run_dir = str(tmp_path / "run")
    proc = holder(run_dir)
    proc.kill()
    proc.wait()
    main(["--output-dir", run_dir, "--target-domains", "texture", "DATASET.ROOT", digits_root, "OPTIM.MAX_EPOCH", "1",
          "TRAIN.MAX_ITERS_PER_EPOCH", "2", "MODEL.BACKBONE.NAME", "resnet10t", "DATALOADER.TRAIN_X.BATCH_SIZE", "8",
          "USE_CUDA", "False", "DATALOADER.NUM_WORKERS", "0", "MODEL.BACKBONE.PRETRAINED", "False"])
    assert os.path.isfile(os.path.join(run_dir, "results.json"))
    assert probe(run_dir) is None  # released when the run ended


@pytest.mark.slow
def test_every_process_of_a_ddp_group_stops_when_the_dir_is_locked(tmp_path, holder):
    """torchrun, 2 processes (gloo): rank 0 finds the lock taken and both stop with its holder, none hangs."""
    run_dir = str(tmp_path / "run")
    proc = holder(run_dir)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           os.path.join(REPO, "tools", "train.py"), "--overwrite", "--output-dir", run_dir, "--target-domains",
           "texture", "USE_CUDA", "False"]
    ddp = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=REPO))
    assert ddp.returncode != 0
    lines = [line for line in ddp.stderr.splitlines() if line.startswith("error: ")]
    assert lines, ddp.stderr
    expected = f"error: {run_dir} is in use by pid {proc.pid}, host {socket.gethostname()}" + lines[0].split(
        socket.gethostname(), 1)[1]
    # the same line from each process that got to print it (torchrun ends the other once one has exited)
    assert len(lines) <= 2 and set(lines) == {expected}
    assert os.listdir(run_dir) == [LOCK_FILE]


def test_a_forked_child_does_not_keep_the_lock_after_its_parent(tmp_path):
    """DataLoader workers are forked: the lock must not live on in them once the run's process is gone."""
    run_dir = str(tmp_path / "run")
    os.makedirs(run_dir)  # an existing run dir: its lock file stays after the release
    lock = RunLock.acquire(run_dir)
    ready, go = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child outlives the parent's lock
        os.write(go, b"x")  # os.fork has returned here: the at-fork hooks have run
        time.sleep(3)
        os._exit(0)
    try:
        os.read(ready, 1)
        lock.release()  # as the parent dying would
        assert probe(run_dir) is None
    finally:
        os.waitpid(pid, 0)
