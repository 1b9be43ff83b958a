"""Tenants: onboarding, limits per tier and offboarding across the shared PostgreSQL (a schema and a
login role each), Temporal (a task queue each in one namespace) and Secrets Manager (the role's password).

``lifecycle`` composes the steps; ``database``, ``temporal``, ``credentials`` and ``dumps`` each talk to
one system; ``names`` decides what every place is called. See docs/tenants.md.
"""
