"""The embedded local AWS: moto's server on loopback, started in-process, for the demo and tests.

Nothing here is imported on the path that talks to real AWS.
"""
