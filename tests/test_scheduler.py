from collections import Counter

from arc_induct.scheduler import Scheduler, SchedulerConfig, attempt_seed, sampling_deadline
from arc_induct.store import Attempt, ExecutionResult
from arc_induct.tasks import Pair, Task


def task(tid, n_train=2):
    return Task(tid, tuple(Pair([[1]], [[2]]) for _ in range(n_train)), ([[1]],), None)


def settings(**kw):
    base = dict(samples_per_request=2, max_samples_per_task=8, early_stop_k=2, give_up_after=4,
                refine_share=0.0, refine_c=20.0, hardcoded_threshold=0.75)
    return SchedulerConfig(**(base | kw))


def row(item, i, correct, hard=0.0):
    """The attempt the run would store for sample i of `item`, right on the train pairs marked True."""
    result = ExecutionResult("ok", (), (), (), (), tuple(correct), None, 0.0)
    return Attempt(item.task_id, item.indices[i], item.kind, item.parent.index if item.parent else None,
                   code="x", result=result, hardcoded_p=hard)


def test_rounds_visit_short_tasks_first_and_every_task_before_repeating():
    s = Scheduler([(task("long"), 900), (task("short"), 10), (task("mid"), 50)], settings())
    order = [s.next_item(0).task_id for _ in range(6)]
    assert order == ["short", "mid", "long", "short", "mid", "long"]


def test_budget_caps_samples_per_task():
    s = Scheduler([(task("a"), 1)], settings(max_samples_per_task=5))
    items = []
    while (it := s.next_item(0)) is not None:
        items.append(it)
    assert sum(len(i.indices) for i in items) == 5
    assert len({a for i in items for a in i.indices}) == 5


def test_early_stop_after_k_train_perfect_programs_not_hard_coded():
    s = Scheduler([(task("a"), 1)], settings(early_stop_k=2))
    it = s.next_item(0)
    s.finish(it, [row(it, 0, [True, True], hard=0.9), row(it, 1, [True, True])])
    assert s.states["a"].open  # the hard-coded one does not count
    it = s.next_item(0)
    s.finish(it, [row(it, 0, [True, True]), row(it, 1, [False, True])])
    assert s.states["a"].done == "early_stop"
    assert s.next_item(0) is None


def test_give_up_returns_budget_to_others():
    s = Scheduler([(task("hopeless"), 1), (task("b"), 2)], settings(give_up_after=4, max_samples_per_task=100))
    for _ in range(4):
        it = s.next_item(0)
        partial = [True, False] if it.task_id == "b" else [False, False]
        s.finish(it, [row(it, 0, partial), row(it, 1, [False, False])])
    assert s.states["hopeless"].done == "gave_up" and s.states["b"].open
    assert {s.next_item(0).task_id for _ in range(5)} == {"b"}


def test_partial_program_prevents_give_up():
    s = Scheduler([(task("a"), 1)], settings(give_up_after=2, max_samples_per_task=100))
    it = s.next_item(0)
    s.finish(it, [row(it, 0, [True, False]), row(it, 1, [False, False])])
    it = s.next_item(0)
    s.finish(it, [row(it, 0, [False, False]), row(it, 1, [False, False])])
    assert s.states["a"].open


def test_refinement_prefers_better_parents_and_spreads_over_retries():
    s = Scheduler([(task("a", n_train=4), 1)], settings(refine_share=1.0, max_samples_per_task=10_000), seed=1)
    it = s.next_item(0)
    assert it.kind == "first"  # nothing to refine yet
    s.finish(it, [row(it, 0, [True, True, True, False]), row(it, 1, [True, False, False, False])])
    picks = Counter()
    for _ in range(200):
        it = s.next_item(0)
        assert it.kind == "refine"
        picks[it.parent.index] += 1
        s.finish(it, [])
    good, weak = 0, 1
    assert picks[good] > picks[weak] > 0  # Thompson: mostly the better one, never only it


def test_hard_coded_programs_are_never_parents():
    s = Scheduler([(task("a"), 1)], settings(refine_share=1.0))
    it = s.next_item(0)
    s.finish(it, [row(it, 0, [True, False], hard=0.99), row(it, 1, [False, False])])
    assert s.next_item(0).kind == "first"


def test_resume_from_rows_restores_counters_and_fresh_ids():
    a = Scheduler([(task("a"), 1)], settings(early_stop_k=3, max_samples_per_task=100))
    rows = []
    for _ in range(3):
        it = a.next_item(0)
        rs = [row(it, 0, [True, True]), row(it, 1, [False, False])]
        a.finish(it, rs)
        rows += rs
    b = Scheduler([(task("a"), 1)], settings(early_stop_k=3, max_samples_per_task=100))
    for r in rows:
        b.record(r)
    sa, sb = a.states["a"], b.states["a"]
    assert (sb.issued, sb.recorded, sb.solved) == (sa.issued, sa.recorded, sa.solved) == (6, 6, 3)
    assert sb.done == "early_stop"


def test_seeds_differ_per_request_and_repeat_across_instances():
    s1 = Scheduler([(task("a"), 1)], settings())
    s2 = Scheduler([(task("a"), 1)], settings())
    seeds1 = [s1.next_item(0).seed for _ in range(4)]
    assert len(set(seeds1)) == 4
    assert seeds1 == [s2.next_item(0).seed for _ in range(4)]
    assert seeds1[1] == attempt_seed(0, "a", 2) != attempt_seed(1, "a", 2)  # the one seed function


def test_deadline_reserve_grows_with_measured_checkpoint_time():
    assert sampling_deadline(0.0, 100.0, 5.0, 0.0) == 95.0
    assert sampling_deadline(0.0, 100.0, 5.0, 10.0) == 70.0


def test_skipped_task_is_never_issued_nor_reopened():
    s = Scheduler([(task("a"), 1), (task("huge"), 10**6)], settings(max_samples_per_task=2))
    s.close("huge", "too_long")
    it = s.next_item(0)
    s.finish(it, [row(it, 0, [False, False]), row(it, 1, [False, False])])
    assert s.next_item(0) is None
    assert s.extend_budget(0)
    assert s.next_item(0).task_id == "a"
    assert s.states["huge"].done == "too_long"


def test_finished_count_never_goes_down_when_budgets_grow():
    """The run's progress bar shows finished_tasks: a task at its budget is not finished (extending
    the budget reopens it); a task given up or skipped is, for good."""
    s = Scheduler([(task("a"), 1), (task("b"), 2), (task("huge"), 10**6)],
                  settings(max_samples_per_task=2, give_up_after=4))
    s.close("huge", "too_long")
    seen = [s.finished_tasks]
    while (it := s.next_item(0)) is not None or s.extend_budget(0):
        if it is None:
            continue
        correct = [True, False] if it.task_id == "a" else [False, False]  # a keeps a partial program
        s.finish(it, [row(it, i, correct) for i in range(len(it.indices))])
        seen.append(s.finished_tasks)
        if s.states["a"].issued >= 8:
            break
    assert seen == sorted(seen) and seen[0] == 1
    assert s.states["b"].done == "gave_up" and s.states["a"].open
    assert s.finished_tasks == 2


# ---- failed requests: the task rests, longer after each failure in a row ----------------------

def test_a_failed_request_rests_its_task_and_is_sent_again_after_the_rest():
    s = Scheduler([(task("a"), 1)], settings(retry_delay_s=1.0, max_retry_delay_s=4.0))
    it = s.next_item(0)
    s.fail(it, now=10.0, retry=True)
    assert s.next_item(10.5) is None and s.wake_at(10.5) == 11.0  # resting: nothing, not even new samples
    again = s.next_item(11.0)
    assert again == it  # the same indices and seed: the same request, sent again
    rests = []
    for now in (100.0, 200.0, 300.0, 400.0, 500.0):  # failures in a row: 2, 4, then capped at 4
        s.fail(again, now=now, retry=True)
        rests.append(s.wake_at(now) - now)
        again = s.next_item(now + rests[-1])
    assert rests == [2.0, 4.0, 4.0, 4.0, 4.0]
    s.finish(again, [row(again, 0, [False, False]), row(again, 1, [False, False])])
    s.fail(s.next_item(1000.0), now=1000.0, retry=True)
    assert s.wake_at(1000.0) == 1001.0  # a success ended the run of failures


def test_a_request_that_cannot_succeed_loses_its_samples_but_its_task_still_rests():
    s = Scheduler([(task("a"), 1)], settings(max_samples_per_task=4))
    it = s.next_item(0)
    s.fail(it, now=0.0, retry=False)
    assert s.next_item(0.5) is None
    nxt = s.next_item(1.0)
    assert nxt.indices == (2, 3)  # new samples: the failed ones are not sent again


def test_the_budget_is_not_extended_while_every_task_rests():
    s = Scheduler([(task("a"), 1), (task("b"), 2)], settings(max_samples_per_task=2))
    items = [s.next_item(0), s.next_item(0)]
    for it in items:
        s.fail(it, now=0.0, retry=False)
    assert s.next_item(0.1) is None
    assert not s.extend_budget(0.1) and s.max_samples == 2  # more samples would only pile up
    assert s.extend_budget(1.0) and s.next_item(1.0) is not None


def test_a_closed_task_is_not_reopened_and_its_held_requests_go():
    s = Scheduler([(task("a"), 1)], settings())
    it = s.next_item(0)
    s.fail(it, now=0.0, retry=True)
    s.close("a", "replay_exhausted")
    assert s.next_item(5.0) is None and not s.extend_budget(5.0) and s.wake_at(0.0) is None
    assert s.states["a"].done == "replay_exhausted" and s.finished_tasks == 1
