"""JUnit XML of a regression gate's comparison (`--junit FILE`): one test per metric and
condition, for CI systems that show test results."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness import analysis
from harness.compare import INCONCLUSIVE, NOT_COMPARED, REGRESSION, Comparison


def comparison(cmp: Comparison) -> str:
    """One test per metric and condition: a regression is a failure; a gating row that is
    inconclusive or not compared is an error (the gate could not decide); informational
    rows pass with their verdict in system-out."""
    undecided = [r for r in cmp.gating_rows if r.verdict in (INCONCLUSIVE, NOT_COMPARED)]
    suite = ET.Element(
        "testsuite",
        name="harness compare",
        tests=str(len(cmp.rows)),
        failures=str(sum(r.verdict == REGRESSION and r.gating for r in cmp.rows)),
        errors=str(len(undecided) + (1 if cmp.untrustworthy else 0)),
        skipped=str(sum(r.verdict == NOT_COMPARED and not r.gating for r in cmp.rows)),
    )
    if cmp.untrustworthy:
        case = ET.SubElement(suite, "testcase", classname="measurement", name="trustworthy")
        ET.SubElement(case, "error", message="the measurement is not trustworthy").text = "\n".join(cmp.untrustworthy)
    for r in cmp.rows:
        case = ET.SubElement(suite, "testcase", classname=r.condition, name=r.metric)
        detail = (
            f"baseline {analysis.fmt(r.baseline)}, current {analysis.fmt(r.current)}, change {r.interval_text}, "
            f"threshold {r.threshold_pct:g}%: {r.reason}"
        )
        if r.verdict == REGRESSION and r.gating:
            ET.SubElement(case, "failure", message=f"{r.metric} regressed").text = detail
        elif r.gating and r.verdict in (INCONCLUSIVE, NOT_COMPARED):
            ET.SubElement(case, "error", message=f"{r.metric} {r.verdict}").text = detail
        elif r.verdict == NOT_COMPARED:
            ET.SubElement(case, "skipped", message=r.reason)
        else:
            ET.SubElement(case, "system-out").text = f"{r.verdict}: {detail}"
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)
