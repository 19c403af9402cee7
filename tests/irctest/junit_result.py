"""Turns pytest's junit XML into the suite summary file of docs (the `<suite>.result` format).

usage: junit_result.py SUITE JUNIT_XML > RESULT
One line each: suite, ran, passed, failed, skipped; then `skip ID: REASON` and `fail ID`.
A test id is pytest's node id (path::Class::test[params]) relative to the irctest checkout.
"""

import sys
import xml.etree.ElementTree as ET


def node_id(case: ET.Element) -> str:
    # classname is dotted (irctest.server_tests.chmodes.ban.BanTestCase): the last part is
    # the class, the rest the module path.
    parts = case.get("classname", "").split(".")
    module, cls = parts[:-1], parts[-1:]
    path = "/".join(module) + ".py" if module else ""
    return "::".join([p for p in [path] + cls if p] + [case.get("name", "?")])


def one_line(text: str) -> str:
    return " ".join((text or "").split())


def main() -> int:
    suite, path = sys.argv[1], sys.argv[2]
    root = ET.parse(path).getroot()
    # One verdict per test: a test may appear twice (a failure and then a teardown error).
    verdicts = {}
    for case in root.iter("testcase"):
        tid = node_id(case)
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        skip = case.find("skipped")
        if bad is not None:
            verdict = ("fail", "")
        elif skip is not None:
            reason = one_line(skip.get("message") or skip.text or "no reason given")
            if skip.get("type") == "pytest.xfail":
                reason = "expected failure: " + reason
            verdict = ("skip", reason)
        else:
            verdict = ("pass", "")
        rank = {"pass": 0, "skip": 1, "fail": 2}
        if tid not in verdicts or rank[verdict[0]] > rank[verdicts[tid][0]]:
            verdicts[tid] = verdict
    passed = [t for t, v in verdicts.items() if v[0] == "pass"]
    failed = [t for t, v in verdicts.items() if v[0] == "fail"]
    skipped = [(t, v[1]) for t, v in verdicts.items() if v[0] == "skip"]
    ran = len(passed) + len(failed) + len(skipped)
    out = [f"suite {suite}", f"ran {ran}", f"passed {len(passed)}",
           f"failed {len(failed)}", f"skipped {len(skipped)}"]
    out += [f"skip {tid}: {reason}" for tid, reason in skipped]
    out += [f"fail {tid}" for tid in failed]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
