"""What the hosted API promises about a job beyond its parameters (those are options.py): the states it
passes through, which of them are final, and how long a finished job stays readable. The server sets
the states, the hosted-API client and the remote node read them."""

QUEUED, PROCESSING, COMPLETED, FAILED = "QUEUED", "PROCESSING", "COMPLETED", "FAILED"
JOB_STATES = (QUEUED, PROCESSING, COMPLETED, FAILED)  # in the order a job passes through them
FINISHED = frozenset({COMPLETED, FAILED})  # a job in one of these never changes again
RESULT_TTL_S = 3600.0  # a finished job, its result and the uploads it read are kept one hour
