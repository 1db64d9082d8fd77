"""The worker: Dramatiq actors that drive each case through its LangGraph graph."""
