"""The tests start Vigil's processes the same way the demo does."""

from demo.processes import Process, free_port, settings_env, wait_http, wait_until

__all__ = ["Process", "free_port", "settings_env", "wait_http", "wait_until"]
