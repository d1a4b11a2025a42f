"""The load side: Locust, launched as its own process, with the harness's event hooks."""
