"""Analyses as processes (OGC API - Processes), framework-free: a registry and a job runner.

Each analysis of :mod:`twin.analysis` that is offered as a process has an adapter here, one
module per process (:mod:`twin.processes.trench`, ...): its description, its inputs as JSON
Schemas, the collections it reads, and a function that turns the JSON inputs into the
analysis's call and its result into JSON. The API, the CLI and notebooks list and run the
same registry; no module here imports a web framework.
"""

from twin.processes.jobs import Job, JobRunner
from twin.processes.process import Process, ProcessFunction
from twin.processes.registry import processes, register

__all__ = ["Job", "JobRunner", "Process", "ProcessFunction", "processes", "register"]
