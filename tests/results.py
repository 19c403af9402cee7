"""The `make test` summary: suite result files in, one table out.

usage:
  results.py rust LOG STATUS DIR   turn the output of `cargo test --no-fail-fast` (LOG) and
                                   its exit STATUS into DIR/rust.result, moving the tests
                                   listed in DIR/rust-skips.txt from passed to skipped;
                                   DIR/rust.targets gets the counts per test binary
  results.py summary DIR SUITE...  print every DIR/*.result (and a failure for each SUITE
                                   expected but without a file); exit 1 if anything failed

A result file (docs/TESTING.md) has one item per line:
  suite NAME / ran N / passed N / failed N / skipped N / skip ID: REASON / fail ID
"""

import os
import re
import sys

RUNNING = re.compile(r"^\s*Running (?:unittests )?(\S+) \((.+)\)\s*$")
RESULT = re.compile(
    r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored; (\d+) measured;"
)
TEST = re.compile(r"^test (\S+) \.\.\. (ok|FAILED|ignored)(?:, (.*))?\s*$")
# A test's name, even where its result is printed later (one test thread, stderr in between).
TEST_NAME = re.compile(r"^test (\S+) \.\.\. ")
FAILED_OUTPUT = re.compile(r"^---- (\S+) stdout ----\s*$")
RERUN = re.compile(r"to rerun pass `([^`]+)`")
FAILED_TARGET = re.compile(r"^\s+`(--[^`]+)`\s*$")
CRITERION_OK = re.compile(r"^Success\s*$")


def label_of(source, exe):
    """A short name for a test binary, from its source path and executable (as cargo prints
    them): integration tests by their name, the others with their kind."""
    stem = os.path.basename(exe).rsplit("-", 1)[0]
    parts = source.split("/")
    if parts[0] == "tests":
        return stem
    if parts[0] == "benches":
        return "bench " + stem
    if parts[0] == "examples":
        return "example " + stem
    if source == "src/lib.rs":
        return "lib"
    return "bin " + stem


def flag_label(flag):
    """`--test native` -> native, `--lib` -> lib, `--bench x` -> bench x, ..."""
    words = flag.split()
    if words[0] == "--lib":
        return "lib"
    if len(words) < 2:
        return flag
    kind = {"--test": "", "--bench": "bench ", "--example": "example ", "--bin": "bin "}
    return kind.get(words[0], words[0] + " ") + words[1]


class Target:
    def __init__(self, label, stem):
        self.label, self.stem = label, stem
        self.counts = None  # (passed, failed, ignored) from libtest's `test result` line
        self.names, self.failed_names, self.ignored = set(), [], []
        self.harness_free_ok = 0  # criterion's `Success` lines (harness = false)
        self.passed = self.failed = self.skipped = 0
        self.skips, self.fails = [], []


def parse_cargo(log):
    targets, current, failed_flags = [], None, set()
    for line in log.splitlines():
        m = RUNNING.match(line)
        if m:
            stem = os.path.basename(m.group(2)).rsplit("-", 1)[0]
            current = Target(label_of(m.group(1), m.group(2)), stem)
            targets.append(current)
            continue
        for pattern in (RERUN, FAILED_TARGET):
            m = pattern.search(line)
            if m:
                failed_flags.add(flag_label(m.group(1)))
        if current is None:
            continue
        m = RESULT.match(line)
        if m:
            current.counts = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
            continue
        failed_name = None
        m = TEST_NAME.match(line)
        if m:
            current.names.add(m.group(1))
        m = TEST.match(line)
        if m and m.group(2) == "FAILED":
            failed_name = m.group(1)
        elif m and m.group(2) == "ignored":
            current.ignored.append((m.group(1), m.group(3) or "marked #[ignore]"))
        m = FAILED_OUTPUT.match(line)
        if m:
            failed_name = m.group(1)
        if failed_name and failed_name not in current.failed_names:
            current.failed_names.append(failed_name)
        if CRITERION_OK.match(line):
            current.harness_free_ok += 1
    return targets, failed_flags


def read_skips(path):
    skips = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, reason = line.rstrip("\n").partition(": ")
                if sep and key:
                    skips.setdefault(key, reason)
    except FileNotFoundError:
        pass
    return skips


def rust(log_path, status, out_dir):
    with open(log_path, encoding="utf-8", errors="replace") as f:
        targets, failed_flags = parse_cargo(f.read())
    skips = read_skips(os.path.join(out_dir, "rust-skips.txt"))
    for t in targets:
        if t.counts is not None:
            t.passed, t.failed, ignored = t.counts
            t.fails = [f"{t.label}::{n}" for n in t.failed_names]
            if len(t.fails) < t.failed:
                t.fails.append(f"{t.label}: {t.failed - len(t.fails)} more failed (names not found in the output)")
            t.skipped = ignored
            t.skips = [(f"{t.label}::{n}", why) for n, why in t.ignored]
            if len(t.skips) < ignored:
                t.skips.append((f"{t.label}", f"{ignored - len(t.skips)} ignored tests (names not found in the output)"))
            if t.label in failed_flags and t.failed == 0:
                t.failed = 1
                t.fails.append(f"{t.label}: the test binary failed after its tests passed (see above)")
        elif t.label in failed_flags:
            t.passed, t.failed = 0, 1
            t.fails = [f"{t.label}: the test binary failed or crashed before it reported (see above)"]
        else:
            # No libtest harness (criterion in test mode): one check per `Success`, or the
            # binary as one test that exited 0.
            t.passed = max(t.harness_free_ok, 1)
    # A skip names its test as BINARY::TEST (common::skip) or as TEST alone.
    unmatched = []
    for key, reason in skips.items():
        stem, sep, name = key.partition("::")
        t = next((t for t in targets if sep and t.stem == stem and name in t.names), None)
        if t is None:
            name = key
            t = next((t for t in targets if key in t.names), None)
        if t is None or t.counts is None:
            unmatched.append((key, reason))
        elif name in t.failed_names:
            continue  # it failed after saying it cannot run: a failure it stays
        elif t.passed > 0:
            t.passed -= 1
            t.skipped += 1
            t.skips.append((f"{t.label}::{name}", reason))
    fails = [f for t in targets for f in t.fails]
    skipped = [s for t in targets for s in t.skips] + unmatched
    # A skip whose test was not found in the output still ran as a pass in cargo's count.
    passed = sum(t.passed for t in targets) - len(unmatched)
    failed = sum(t.failed for t in targets)
    if status != 0 and failed == 0:
        when = "before running any test (a build error?)" if not targets else "with no failed test found in its output"
        fails.append(f"rust: cargo test exited with status {status} {when}; see above")
        failed = 1
    ran = passed + failed + len(skipped)
    lines = [f"suite rust", f"ran {ran}", f"passed {passed}", f"failed {failed}", f"skipped {len(skipped)}"]
    lines += [f"skip {i}: {r}" for i, r in skipped]
    lines += [f"fail {i}" for i in fails]
    with open(os.path.join(out_dir, "rust.result"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out_dir, "rust.targets"), "w", encoding="utf-8") as f:
        for t in targets:
            f.write(f"{t.label}\t{t.passed + t.failed + t.skipped}\t{t.passed}\t{t.failed}\t{t.skipped}\n")
    return 0


class Suite:
    def __init__(self, name):
        self.name = name
        self.ran = self.passed = self.failed = self.skipped = 0
        self.skips, self.fails = [], []


def read_result(path, name):
    s = Suite(name)
    seen = set()
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for raw in f:
                line = raw.rstrip("\n")
                key, _, rest = line.partition(" ")
                if key == "suite" and rest:
                    s.name = rest.strip()
                elif key in ("ran", "passed", "failed", "skipped") and rest.strip().isdigit():
                    setattr(s, key, int(rest))
                    seen.add(key)
                elif key == "skip":
                    tid, _, reason = rest.partition(": ")
                    s.skips.append((tid, reason or "no reason given"))
                elif key == "fail":
                    s.fails.append(rest)
    except OSError as e:
        s.failed, s.fails = 1, [f"{name}: cannot read {path}: {e}"]
        return s
    missing = {"ran", "passed", "failed", "skipped"} - seen
    if missing:
        s.failed = max(s.failed, 1)
        s.fails.append(f"{name}: its result file lacks {', '.join(sorted(missing))}")
    if s.failed > len(s.fails):
        s.fails.append(f"{s.name}: {s.failed - len(s.fails)} failed (not named in its result file)")
    if s.skipped > len(s.skips):
        s.skips.append((s.name, f"{s.skipped - len(s.skips)} skipped without a reason given"))
    return s


def summary(out_dir, expected):
    names = sorted(f[: -len(".result")] for f in os.listdir(out_dir) if f.endswith(".result"))
    order = [n for n in expected if n in names] + [n for n in names if n not in expected]
    suites = [read_result(os.path.join(out_dir, n + ".result"), n) for n in order]
    for n in expected:
        if n not in names:
            s = Suite(n)
            s.failed, s.fails = 1, [f"{n}: its runner wrote no {n}.result (it crashed, or never ran)"]
            suites.append(s)

    out = []
    targets = os.path.join(out_dir, "rust.targets")
    if os.path.exists(targets):
        out.append("rust, per test binary:")
        empty = []
        with open(targets, encoding="utf-8") as f:
            for row in f:
                label, ran, passed, failed, skipped = row.rstrip("\n").split("\t")
                if ran == "0":
                    empty.append(label)
                    continue
                out.append(f"  {label:<22} ran {ran:>4}  passed {passed:>4}  failed {failed:>3}  skipped {skipped:>3}")
        if empty:
            out.append(f"  (no tests in: {', '.join(empty)})")
    skips = [(s.name, tid, why) for s in suites for tid, why in s.skips]
    fails = [(s.name, tid) for s in suites for tid in s.fails]
    out.append(f"skipped ({len(skips)}):" if skips else "skipped: none")
    out += [f"  {suite:<8} {tid}: {why}" for suite, tid, why in skips]
    if fails:
        out.append(f"failed ({len(fails)}):")
        out += [f"  {suite:<8} {tid}" for suite, tid in fails]
    out.append(f"{'suite':<10} {'ran':>6} {'passed':>7} {'failed':>7} {'skipped':>8}")
    total = Suite("total")
    for s in suites + [total]:
        if s is total:
            for s2 in suites:
                for k in ("ran", "passed", "failed", "skipped"):
                    setattr(total, k, getattr(total, k) + getattr(s2, k))
        out.append(f"{s.name:<10} {s.ran:>6} {s.passed:>7} {s.failed:>7} {s.skipped:>8}")
    verdict = "FAILED" if total.failed else "passed"
    out.append(
        f"make test {verdict}: {total.ran} ran, {total.passed} passed, {total.failed} failed, "
        f"{total.skipped} skipped"
    )
    print("\n".join(out))
    return 1 if total.failed else 0


def main(argv):
    if len(argv) == 5 and argv[1] == "rust":
        return rust(argv[2], int(argv[3]), argv[4])
    if len(argv) >= 3 and argv[1] == "summary":
        return summary(argv[2], argv[3:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
