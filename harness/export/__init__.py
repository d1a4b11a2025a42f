"""Exports: one module per format. markdown: a report's summary and a comparison's; junit: a
comparison's. (The JSON of a report and of a comparison stay beside what they describe:
harness.report.summary_json, harness.compare.to_json.)"""
