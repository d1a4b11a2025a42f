"""Node.js scaling benchmark harness.

Pipeline: scenario -> cases -> (server mode, Locust load, psutil sampling) -> run record
-> analysis -> report. Each stage reads only what the stage before it wrote.
"""

__version__ = "0.1.0"
