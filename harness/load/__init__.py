"""The load side: Locust, launched as its own process, with the harness's event hooks."""

# What the harness's Locust users can send with (the locustfile's --harness-client, from
# HARNESS_CLIENT): its own lean_http, the default, or Locust's FastHttpSession. Here, not in
# lean_http or the locustfile, so the harness process reads them without importing gevent.
HTTP_CLIENTS = ("lean", "locust")
DEFAULT_HTTP_CLIENT = "lean"
